# The smallest useful pipeline: back up every item of an organization to a
# local folder. Set AGOL_PASSWORD in the environment, then:
#
#   agolpipe validate examples/minimal.hcl
#   agolpipe run examples/minimal.hcl

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
