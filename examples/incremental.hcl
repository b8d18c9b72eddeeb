# An hourly incremental run: only items changed in the last day, into their
# own run folders, deleted after two weeks. Pair it with a full nightly run
# (examples/nightly.hcl): its runs go to <BACKUP_ROOT>/nightly, these to
# <BACKUP_ROOT>/incremental, side by side, so neither pipeline's folder
# holds the other's runs. (Retention deletes only runs of its own pipeline
# and sink in any case: see "Retention" in the README.)

variable "org" {
  description = "The organization to back up."
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
  path = format("%s/incremental", env("BACKUP_ROOT", "/mnt/gis-backups"))
  retention {
    delete_after = "2w"
  }
}

run {
  prefix          = "PROD-INCR"
  modified_within = "1d"
}
