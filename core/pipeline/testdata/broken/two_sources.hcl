source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

source "arcgis" "test" {
  url = "https://mytest.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
}
