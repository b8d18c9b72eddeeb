# A nightly backup into the checksum-dir sink of this example plugin, next
# to the built-in local sink. Build the plugin and record its checksum first
# (see README.md), then:
#   agolpipe validate examples/sink-plugin/pipeline.hcl
#   AGOL_PASSWORD=... agolpipe run examples/sink-plugin/pipeline.hcl

plugin "checksum-dir" {
  # Relative paths start at this file's folder.
  path = "agolpipe-sink-checksum-dir"
  # Replace with the output of `sha256sum agolpipe-sink-checksum-dir`,
  # recorded when you built or installed the plugin. agolpipe refuses a
  # binary that differs from it.
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}

sink "checksum-dir" "verified" {
  path = "/mnt/gis-backups/verified"
}

sink "local" "nas" {
  path = "/mnt/gis-backups/agol"
}

run {
  prefix = "PROD"
}
