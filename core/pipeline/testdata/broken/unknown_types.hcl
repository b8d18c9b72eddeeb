source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "locl" "nas" {
  path = "/mnt/gis-backups"
}

sink "dropbox" "cloud" {
  folder = "/backups"
}

notify "webhok" "teams" {
  url = env("HOOK_URL")
}

export "Web Map" {
  exporter = "item-dta"
}
