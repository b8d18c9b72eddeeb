source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
}

sink "s3" "nas" {
  bucket = "gis-backups"
}

export "Web Map" {
  format = "JSON"
}

export "Web Map" {
  skip = true
}

run {
  concurrency = 2
}

run {
  retries = 5
}

notify "webhook" "teams" {
  url = env("HOOK_URL")
  on  = ["failed"]
}

notify "webhook" "teams" {
  url = env("HOOK_URL")
}

variable "org" {}
variable "org" {}
