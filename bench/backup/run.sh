#!/usr/bin/env bash
# Whole-organization benchmarks of issue 4 against the simulator (all real
# plugin subprocesses). See README.md for what each measures and the
# numbers.
#
#   bench/backup/run.sh full    # 2,000 items, 50 ms/request, 2 s export jobs, concurrency 16,
#                               # then a modified_within rerun after changing 20 items
#   bench/backup/run.sh scan    # deep scan (agolpipe plan) of 10k, 50k and 100k items: time and peak RSS
#   bench/backup/run.sh         # both
#
# Linux only (reads /proc for the process tree's RSS). The machine should be
# otherwise idle: the simulator, the host and the plugins share its cores.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agolpipe-bench-backup.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
go build -o "$WORK/agolpipe" ./cmd/agolpipe
go build -o "$WORK/backup" ./bench/backup

what=${1:-all}
if [[ $what == full || $what == all ]]; then
  mkdir -p "$WORK/full"
  "$WORK/backup" -agolpipe "$WORK/agolpipe" -scenario full -items 2000 -latency 50ms -export-time 2s -concurrency 16 -changes 20 \
    -dir "$WORK/full" | grep -v '^\['
fi
if [[ $what == scan || $what == all ]]; then
  for n in 10000 50000 100000; do
    mkdir -p "$WORK/scan-$n"
    "$WORK/backup" -agolpipe "$WORK/agolpipe" -scenario scan -items "$n" -latency 0 -dir "$WORK/scan-$n"
  done
fi
