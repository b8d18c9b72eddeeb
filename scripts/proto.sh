#!/usr/bin/env bash
# Generate or check the plugin protocol's Go code (proto/agolpipe/plugin/v1).
#
#   scripts/proto.sh generate   # regenerate the checked-in .pb.go files
#   scripts/proto.sh check      # buf lint + fail when the checked-in code is stale
#
# The pinned tools (buf, protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.6.2)
# come from the shared test-infra install script when they are missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS=${TEST_INFRA_BIN:-/tmp/test-infra/bin}
export PATH="$TOOLS:$PATH"

ensure_tools() {
  if command -v buf >/dev/null && command -v protoc-gen-go >/dev/null && command -v protoc-gen-go-grpc >/dev/null; then
    return
  fi
  local install="${SHARED:-../shared}/test-infra/install.sh"
  if [ ! -x "$install" ]; then
    echo "proto.sh: buf/protoc-gen-go missing and $install not found; set SHARED to the shared folder" >&2
    exit 2
  fi
  "$install" buf
}

generate() { # dir: repo copy to generate into
  (cd "$1" && buf generate)
}

case "${1:-}" in
generate)
  ensure_tools
  generate "$ROOT"
  ;;
check)
  ensure_tools
  buf lint
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp buf.yaml buf.gen.yaml "$tmp/"
  cp -R proto "$tmp/"
  find "$tmp/proto" -name '*.pb.go' -delete
  generate "$tmp"
  if ! diff -ru proto "$tmp/proto"; then
    echo "proto.sh: the generated Go code in proto/ is stale or hand-edited." >&2
    echo "Run 'scripts/proto.sh generate' and commit the result." >&2
    exit 1
  fi
  echo "proto: lint clean, generated code up to date"
  ;;
*)
  echo "usage: scripts/proto.sh generate|check" >&2
  exit 2
  ;;
esac
