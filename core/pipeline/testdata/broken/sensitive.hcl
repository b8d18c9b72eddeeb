# Secrets must never appear in diagnostics: not from env(), not from a
# sensitive variable, not typed into the file.
variable "s3_secret" {
  sensitive = true
  default   = "literal-Pa55word"
}

source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  folders = "literal-Pa55word"
  auth {
    username = "backup_admin"
    password = "literal-Pa55word"
    pasword  = 1
  }
}

sink "s3" "offsite" {
  bucket            = "gis-backups"
  secret_access_key = var.s3_secret
  region            = tonumber(env("S3_SECRET"))
}

sink "local" "nas" {
  path   = env("AGOL_PASSWORD")
  layout = env("AGOL_PASSWORD")
}

notify "webhook" "teams" {
  url     = env("HOOK_URL")
  headers = env("HOOK_URL")
}

run {
  concurrency = "${var.s3_secret}"
  prefix      = upper(env("AGOL_PASSWORD"))
}
