#!/usr/bin/env bash
# Generate or check the plugin protocol's Go code (proto/agolpipe/plugin/v1).
#
#   scripts/proto.sh generate   # regenerate the checked-in .pb.go files
#   scripts/proto.sh check      # buf lint + fail when the checked-in code is stale
#   scripts/proto.sh breaking   # buf breaking: v1 must stay wire-compatible
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
breaking)
  # Protocol v1 only grows: plugins built against any earlier v1 keep
  # working. Compared with the v1 last published before restore was added,
  # kept as a buf image in scripts/proto-baseline/ (checked in, so the check
  # needs no git history and works in a shallow clone), and with the main
  # branch when run on another branch (a change not yet landed; read with
  # git archive, which works in worktrees and needs no clone).
  ensure_tools
  baseline=${PROTO_BASELINE:-scripts/proto-baseline/v1-a6f34fb.json}
  if ! buf breaking --against "$baseline"; then
    echo "proto.sh: the protocol change above breaks plugins built against v1 as of $baseline." >&2
    echo "Add fields, messages and rpcs instead; a breaking change makes v2." >&2
    exit 1
  fi
  echo "proto: no breaking change against $baseline"
  if git rev-parse --verify -q main >/dev/null && [ "$(git rev-parse HEAD)" != "$(git rev-parse main)" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    git archive main buf.yaml proto | tar -x -C "$tmp"
    if ! buf breaking --against "$tmp"; then
      echo "proto.sh: the protocol change above breaks plugins built against v1 as of main." >&2
      echo "Add fields, messages and rpcs instead; a breaking change makes v2." >&2
      exit 1
    fi
    echo "proto: no breaking change against main"
  fi
  ;;
*)
  echo "usage: scripts/proto.sh generate|check|breaking" >&2
  exit 2
  ;;
esac
