source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

export "Feature Service" {
  timeout = "2 hours"
}

export "Web Map" {
  timeout = "90"
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
  retention {
    delete_after = "-3d"
    keep_daily   = 7
  }
}

sink "local" "archive" {
  path = "/mnt/archive"
  retention {
    keep_monthly = 12
  }
}

run {
  modified_within = "7x"
}
