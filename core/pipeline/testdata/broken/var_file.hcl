variable "org" {}
variable "concurrency" { default = 4 }

source "arcgis" "prod" {
  url = var.org
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
}

run {
  concurrency = var.concurrency
}
