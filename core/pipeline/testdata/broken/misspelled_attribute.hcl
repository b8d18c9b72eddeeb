source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    usrname  = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  pth    = "/mnt/gis-backups"
  layot  = "owner/type"
}

run {
  concurency = 8
}

export "Feature Service" {
  include_attachment = true
}

sink "local" "offsite" {
  path   = "/mnt/offsite"
  layuot = "owner/folder/type"
}
