#!/usr/bin/env bash
# Restore benchmark of issue 12: `agolpipe restore --all --to` of a backed-up
# simulated org into an empty one answering after 50 ms per request, at
# 100 and 500 items: wall time against the lower bound from the target's
# request log, and peak RSS of the process tree. See README.md.
#
#   bench/restore/run.sh                   # ITEMS=100,500 LATENCY=50ms PARALLEL=4
#   ITEMS=500 PARALLEL=8 bench/restore/run.sh
#
# Linux only (reads /proc for the process tree's RSS).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agolpipe-bench-restore.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
go build -o "$WORK/agolpipe" ./cmd/agolpipe
go build -o "$WORK/restore" ./bench/restore
"$WORK/restore" -agolpipe "$WORK/agolpipe" -items "${ITEMS:-100,500}" -latency "${LATENCY:-50ms}" \
  -parallel "${PARALLEL:-4}" -dir "$WORK"
