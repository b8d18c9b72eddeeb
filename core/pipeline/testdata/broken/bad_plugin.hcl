plugin "dropbox" {
  path   = "plugins/agolpipe-sink-dropbox"
  sha256 = "not-a-checksum"
}

plugin "onedrive" {
  sha256 = "3f5a0c1d2e4b6a7980f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"
}

plugin "dropbox" {
  path   = "plugins/other"
  sha256 = "3f5a0c1d2e4b6a7980f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b"
}

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
