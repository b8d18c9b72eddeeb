#!/usr/bin/env bash
# Generate or check the plugin protocol's Go code (proto/agolpipe/plugin/v1).
#
#   scripts/proto.sh generate   # regenerate the checked-in .pb.go files
#   scripts/proto.sh check      # buf lint + fail when the checked-in code is stale
#
# The pinned tools (buf, protoc-gen-go, protoc-gen-go-grpc; versions in
# scripts/test-servers.sh) are installed into $TEST_INFRA_DIR/bin (default
# /tmp/test-infra/bin) by `scripts/test-servers.sh install buf`, which this
# script runs itself; those pinned copies are used even when others are on
# PATH, so the generated code never depends on what a machine happens to have.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export TEST_INFRA_DIR=${TEST_INFRA_DIR:-/tmp/test-infra}
export PATH="$TEST_INFRA_DIR/bin:$PATH"

ensure_tools() {
  # Idempotent and quick when the pinned versions are already there.
  "$ROOT/scripts/test-servers.sh" install buf
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
