#!/usr/bin/env bash
# `agolpipe verify` of a 1 GiB run in a local sink against sha256sum of the
# same files (issue 12's target: at least 0.8x sha256sum's throughput).
# See main.go for the method.
#
#   bench/verify/run.sh                 3 timed runs of each, 1 GiB
#   RUNS=5 MIB=2048 bench/verify/run.sh
#
# Linux only (reads /proc for the peak RSS). The machine should be idle.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agolpipe-bench-verify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
go build -o "$WORK/agolpipe" ./cmd/agolpipe
go build -o "$WORK/verify" ./bench/verify
"$WORK/verify" -agolpipe "$WORK/agolpipe" -dir "$WORK" -runs "${RUNS:-3}" -mib "${MIB:-1024}"
