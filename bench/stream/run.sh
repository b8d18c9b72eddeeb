#!/usr/bin/env bash
# Streaming benchmark: a 1 GiB artifact from an exporter plugin through the
# host into the built-in local sink plugin (all real subprocesses), against
# cp of the same file on the same disk. Targets: >= 0.8x cp throughput, peak
# RSS of host + plugins <= 100 MB.
#
#   bench/stream/run.sh [size_mib] [dir]     (default 1024 MiB in $TMPDIR)
#
#   RUNS=5 bench/stream/run.sh      repeat, print every run and the medians
#   ROAD=direct bench/stream/run.sh exporter straight into the sink's Put
#                                   (default ROAD=engine: core/engine.Run,
#                                   with fan-out, manifest sha256, reports)
#
# Each run times cp of the source file (already in the page cache, as the
# exporter's file is), then cp followed by sync of the copy, then the
# stream; the stored artifact is compared with the source byte for byte.
# The local sink fsyncs before its rename, so "cp + sync" is the like-for-like
# baseline; the issue's target is stated against plain cp, which only
# reaches the page cache. Both ratios are printed.
#
# Linux only (reads /proc for the plugins' peak RSS). GOGC and GOMEMLIMIT
# apply to the host and the plugins alike. The three processes need both
# cores: the load average is printed with every run because other work on
# the machine shows directly in the numbers.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIZE_MIB=${1:-1024}
RUNS=${RUNS:-1}
ROAD=${ROAD:-engine}
WORK=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/agolpipe-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
# Build, then copy into place as an installer would: pages of a binary the
# linker has just written sit in the page cache in a layout that maps ~2 MiB
# more of it into each process (measured: +3.5 MiB peak RSS in total), a
# state no installed binary is in.
mkdir "$WORK/build"
go build -o "$WORK/build/agolpipe" ./cmd/agolpipe
go build -o "$WORK/build/exporter" ./bench/stream/exporter
go build -o "$WORK/build/stream" ./bench/stream
cp "$WORK/build/agolpipe" "$WORK/build/exporter" "$WORK/build/stream" "$WORK/"
rm -rf "$WORK/build"
SUM=$(sha256sum "$WORK/exporter" | cut -d' ' -f1)

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/src.bin"
sync

now() { date +%s.%N; }
printf "%-4s %-6s %8s %8s %8s %9s %9s %-16s %8s\n" run load cp_s cp+sync stream_s ratio_cp ratio_sync "rss host/sink/exp" rss_MiB
for i in $(seq "$RUNS"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(now); cp "$WORK/src.bin" "$WORK/cp.bin"; t1=$(now); sync "$WORK/cp.bin"; t2=$(now)
  rm -f "$WORK/cp.bin"; rm -rf "$WORK/sink"; sync

  "$WORK/stream" -road "$ROAD" -file "$WORK/src.bin" -out "$WORK/sink" -agolpipe "$WORK/agolpipe" -exporter "$WORK/exporter" -sha256 "$SUM" > "$WORK/result.txt"
  stored=$(find "$WORK/sink" -type f -size "$((SIZE_MIB * 1024))k")
  cmp -s "$WORK/src.bin" "$stored" || { echo "bench: the stored artifact differs from the source" >&2; exit 1; }

  awk -v run="$i" -v load="$load" -v cp="$(echo "$t1 - $t0" | bc)" -v cps="$(echo "$t2 - $t0" | bc)" '
    /^seconds/ { s = $2 }
    /^rss_kib/ { if ($2 == "host") h = $3; else p[++n] = $3; total += $3 }
    END {
      # plugins in start order: the local sink starts first, then the exporter
      printf "%-4s %-6s %8.2f %8.2f %8.2f %8.2fx %8.2fx %5.1f/%4.1f/%4.1f %9.1f\n", run, load, cp, cps, s, cp / s, cps / s, h/1024, p[1]/1024, p[2]/1024, total / 1024
    }' "$WORK/result.txt" | tee -a "$WORK/runs.txt"
done

# Medians of every column.
awk '
  { for (c = 3; c <= NF; c++) { v[c, NR] = $c + 0 } ; rows = NR; cols = NF }
  END {
    printf "median %d runs:", rows
    split("cp_s cp+sync_s stream_s ratio_cp ratio_cp+sync rss_host/sink/exp rss_total_MiB", name, " ")
    for (c = 3; c <= cols; c++) {
      if (c == 8) continue
      n = 0; for (r = 1; r <= rows; r++) a[++n] = v[c, r]
      for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
      m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      printf " %s=%.2f", name[c - 2], m
    }
    printf "\ntargets: ratio_cp >= 0.80, rss_total <= 100 MB (95.4 MiB)\n"
  }' "$WORK/runs.txt"
