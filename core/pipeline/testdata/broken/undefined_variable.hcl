variable "org" {
  description = "Portal URL"
}

variable "backup_root" {
  default = "/mnt/gis-backups"
}

source "arcgis" "prod" {
  url = var.org
  auth {
    username = var.user
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  path = "${var.backup_rot}/nightly"
}

sink "local" "usb" {
  path = backup_root
}

run {
  prefix = var.org
}
