source "arcgis" "prod" {
  url       = "https://myorg.maps.arcgis.com"
  page_size = "lots"
  folders   = "Parks"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "local" "nas" {
  path     = ["/mnt/a", "/mnt/b"]
  zip      = "yes please"
  required = 1
}

run {
  concurrency = 100
  retries     = 1.5
  prefix      = "PROD/nightly"
  verify      = "after the run"
}
