# No url in the source, no password in auth, no path in the sink.
source "arcgis" "prod" {
  auth {
    username = "backup_admin"
  }
}

sink "local" "nas" {
  layout = "owner/type"
}

notify "email" "admins" {
  password = env("AGOL_PASSWORD")
}
