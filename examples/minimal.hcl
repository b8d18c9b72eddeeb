# The smallest useful pipeline: back up every item of an organization to a
# local folder. Set AGOL_PASSWORD in the environment, then:
#
#   agolpipe validate examples/minimal.hcl --var org=myorg --var username=gis_admin
#   agolpipe run examples/minimal.hcl --var org=myorg --var username=gis_admin
#
# (or AGOLPIPE_VAR_org and AGOLPIPE_VAR_username in the environment).

variable "org" {
  description = "The organization: a short name (myorg), myorg.maps.arcgis.com or https://gis.example.org/portal."
  default     = "https://myorg.maps.arcgis.com"
}

variable "username" {
  description = "The ArcGIS account the backup signs in as: an administrator, so every member's content is backed up."
  default     = "backup_admin"
}

source "arcgis" "prod" {
  url = var.org
  auth {
    username = var.username
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
}
