#!/usr/bin/env bash
# Streaming benchmark: a 1 GiB artifact from an exporter plugin through the
# host into the built-in local sink plugin (all real subprocesses), against
# cp of the same file on the same disk. Targets: >= 0.8x cp throughput, peak
# RSS of host + plugins <= 100 MB.
#
#   bench/stream/run.sh [size_mib] [dir]     (default 1024 MiB in $TMPDIR)
#
# Linux only (reads /proc for the plugins' peak RSS). GOGC applies to the
# host and the plugins alike (GOGC=25 trades CPU for ~10 MiB less per
# process). The machine should be otherwise idle: the three processes need
# both cores.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIZE_MIB=${1:-1024}
WORK=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/agolpipe-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
go build -o "$WORK/agolpipe" ./cmd/agolpipe
go build -o "$WORK/exporter" ./bench/stream/exporter
go build -o "$WORK/stream" ./bench/stream
SUM=$(sha256sum "$WORK/exporter" | cut -d' ' -f1)

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/src.bin"
sync

now() { date +%s.%N; }
# cp, then sync of the copy: the local sink fsyncs before its rename, so the
# fair baseline includes getting the bytes to disk. Plain cp is shown too.
t0=$(now); cp "$WORK/src.bin" "$WORK/cp.bin"; t1=$(now); sync "$WORK/cp.bin"; t2=$(now)
rm -f "$WORK/cp.bin"; sync

"$WORK/stream" -file "$WORK/src.bin" -out "$WORK/sink" -agolpipe "$WORK/agolpipe" -exporter "$WORK/exporter" -sha256 "$SUM" > "$WORK/result.txt"
cmp -s "$WORK/src.bin" "$(find "$WORK/sink" -name data.bin)" || { echo "bench: the stored artifact differs from the source" >&2; exit 1; }

awk -v cp="$(echo "$t1 - $t0" | bc)" -v cps="$(echo "$t2 - $t0" | bc)" -v mib="$SIZE_MIB" '
  /^seconds/ { s = $2 }
  /^rss_kib/ { rss[$2] = $3; total += $3 }
  /^cpu_s/   { cpu[$2] = $3 }
  END {
    printf "artifact           %d MiB\n", mib
    printf "cp                 %.2fs  %.0f MiB/s\n", cp, mib / cp
    printf "cp + sync          %.2fs  %.0f MiB/s\n", cps, mib / cps
    printf "agolpipe stream    %.2fs  %.0f MiB/s\n", s, mib / s
    printf "ratio vs cp        %.2fx (target >= 0.80x)\n", cp / s
    printf "ratio vs cp+sync   %.2fx\n", cps / s
    for (p in rss) printf "%-18s peak RSS %.1f MiB, CPU %.2fs\n", p, rss[p] / 1024, cpu[p]
    printf "peak RSS total     %.1f MiB (target <= 100 MB)\n", total / 1024
  }' "$WORK/result.txt"
