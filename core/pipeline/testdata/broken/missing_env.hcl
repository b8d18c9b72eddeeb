source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = env("AGOL_USER")
    password = env("AGOL_PASSWORD_TYPO")
  }
}

sink "local" "nas" {
  path = env("BACKUP_ROOT", "/mnt/gis-backups")
}

sink "s3" "offsite" {
  bucket            = "gis-backups"
  secret_access_key = env("S3_SECRET", "x", "y")
}
