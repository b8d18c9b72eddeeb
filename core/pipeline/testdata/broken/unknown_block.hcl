source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sinc "local" "nas" {
  path = "/mnt/gis-backups"
}

runn {
  concurrency = 8
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
}
