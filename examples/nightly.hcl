# Nightly backup of a production organization to a NAS (kept 90 days, plus
# weekly and monthly copies) and, as a second copy, to S3. The GIS team is
# mailed when a run needs attention.
#
#   agolpipe validate examples/nightly.hcl --var org=https://myorg.maps.arcgis.com --var username=gis_admin
#
# Secrets come from the environment (AGOL_PASSWORD, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, SMTP_PASSWORD); agolpipe never prints them.

variable "org" {
  description = "The organization to back up."
  default     = "https://myorg.maps.arcgis.com"
}

variable "username" {
  description = "The ArcGIS account the backup signs in as: an administrator, so every member's content is backed up."
  default     = "backup_admin"
}

variable "smtp_username" {
  description = "The mail account that sends the run's notifications."
  default     = "gis-backup@city.gov"
}

variable "backup_root" {
  description = "Folder (or UNC path) that holds the backups: this pipeline's runs go to its nightly folder, examples/incremental.hcl's to its incremental folder."
  default     = "/mnt/gis-backups"
}

source "arcgis" "prod" {
  url = var.org
  auth {
    username = var.username
    password = env("AGOL_PASSWORD")
  }
  exclude_tags = ["no-backup"]
}

# Feature services as file geodatabases; big ones may take a while.
export "Feature Service" {
  format  = "File Geodatabase"
  timeout = "120m"
}

# Notebooks are kept in git by the analysts.
export "Notebook" {
  skip = true
}

# The nightly runs get a folder of their own. Retention only ever deletes
# runs of this pipeline in this folder, but keep every pipeline in its own
# folder, side by side (never one inside another), so each one's runs stay
# easy to find and to restore from.
sink "local" "nas" {
  path   = format("%s/nightly", var.backup_root)
  layout = "owner/folder/type"
  retention {
    delete_after = "90d"
    keep_weekly  = 8
    keep_monthly = 12
  }
}

# The offsite copy may fail without failing the run: the NAS copy counts.
sink "s3" "offsite" {
  bucket            = "city-gis-backups"
  region            = "eu-west-1"
  access_key_id     = env("AWS_ACCESS_KEY_ID")
  secret_access_key = env("AWS_SECRET_ACCESS_KEY")
  required          = false
  zip               = true
}

notify "email" "gis-team" {
  on        = ["partial", "failed", "canceled"]
  smtp_host = "smtp.office365.com"
  username  = var.smtp_username
  password  = env("SMTP_PASSWORD")
  from      = "agolpipe <gis-backup@city.gov>"
  to        = ["gis-team@city.gov"]
}

run {
  prefix      = "PROD"
  concurrency = 8
  retries     = 3
}
