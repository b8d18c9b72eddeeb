source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

export "Feature Servce" {
  format = "File Geodatabase"
}

export "feature service" {
  skip = true
}

export "Hologram Layer" {
  output_dir = "holo"
}

export "Web Map" {
  exporter = "hosted"
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
}
