# A missing closing quote and brace: the parser stops here.
source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com
}

sink "local" "nas" {
  path = "/mnt/gis-backups"
