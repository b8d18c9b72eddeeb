source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  path   = "/mnt/gis-backups"
  layout = "owner/typ"
}

notify "webhook" "teams" {
  url = env("HOOK_URL")
  on  = ["failure", "partial", "cancelled"]
}

notify "email" "admins" {
  to = "gis-admins@example.com"
}
