# The pipeline `agolpipe demo` runs against its simulated organization. It is
# also a tour of a pipeline file for a GIS administrator: copy it, point it
# at your organization and adjust.
#
#   agolpipe demo                      # runs this file against a simulated org
#   agolpipe validate examples/demo.hcl
#
# A pipeline wires one source (the organization), export settings per item
# type, one or more sinks (where the backup goes) and the run settings.

# Variables keep what differs between organizations out of the blocks. The
# demo sets them on the command line (--var portal=... --var username=...);
# the defaults below only describe their shape.
variable "portal" {
  description = "Organization to back up: a short name (myorg), myorg.maps.arcgis.com or https://gis.example.org/portal."
  default     = "https://myorg.maps.arcgis.com"
}

variable "username" {
  description = "An administrator of the organization, so every member's content is backed up."
  default     = "backup_admin"
}

variable "backup_dir" {
  description = "Folder that receives the backup: one folder per sink inside it."
  default     = "./agolpipe-demo"
}

# The organization. The password comes from the environment, never from a
# file you might share; agolpipe never prints it or writes it to run.log.
source "arcgis" "org" {
  url = var.portal
  auth {
    username = var.username
    password = env("AGOL_PASSWORD")
  }
  # "auto" lists through search and goes through every user's folders
  # instead when the organization holds more than 10,000 items.
  scan = "auto"
  # Items tagged no-backup are left out (and listed as excluded in
  # Inventory.csv, so you can see what was left out and why).
  exclude_tags = ["no-backup"]
}

# Hosted feature services: a File Geodatabase through ArcGIS's export API.
# If that export fails the next format in `formats` is tried, and the item
# is marked partial with the reason. An export still running after
# `timeout` keeps going on the server while the run moves on; it is
# collected before the run ends.
export "Feature Service" {
  exporter       = "feature_service"
  format         = "File Geodatabase"
  formats        = ["File Geodatabase", "Shapefile", "CSV"]
  timeout        = "30m"
  view_data      = false # views: their definition only; the data is in the source service
  fallback_query = true  # export not allowed to this user: page the layers into GeoJSON instead
}

# Web maps and apps are JSON: the item's data, its resources as one zip,
# thumbnail and metadata.
export "Web Map" {
  exporter  = "item_json"
  resources = true
}

# Service definitions are often large copies of data published elsewhere;
# this organization wants them anyway.
export "Service Definition" {
  exporter            = "file"
  service_definitions = true
}

# Notebooks live in the analysts' git repository: not backed up here (they
# show up in Inventory.csv as skipped).
export "Notebook" {
  skip = true
}

# Every other item type uses the exporter that declares it (see
# `agolpipe plugins`) with its defaults.

# The main copy: one run folder per run, and in it one folder per item type
# ("Feature Service/", "Web Map/"...), the default layout "type"; each file
# is named <title>_<item id>.<ext>.
# Each sink gets a folder of its own, side by side: two sinks on one folder
# would be one copy, not two, and a folder inside another sink's folder
# would mix their runs (validate refuses both).
sink "local" "backup" {
  path = format("%s/by-type", var.backup_dir)
}

# A second copy arranged the way people browse: owner, then item type.
# Both sinks receive every artifact at once while it streams.
sink "local" "by-owner" {
  path   = format("%s/by-owner", var.backup_dir)
  layout = "owner/type"
}

# Run settings: the run folder's name starts with the prefix; up to
# `concurrency` items are exported at a time; a failed request or export is
# retried `retries` times with backoff before the item is reported failed.
# For an hourly incremental run add: modified_within = "1d"
run {
  prefix      = "DEMO"
  concurrency = 8
  retries     = 3
}
