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
#   CACHE=cold bench/stream/run.sh  drop the page cache (root) before every
#                                   timed dd, cp and stream, so each reads
#                                   the source from the disk (default
#                                   CACHE=warm: the source stays cached)
#
# The exporter plugin streams the very file cp copies (src.bin), into a
# folder on the same file system as cp's copy. Each run times, in order:
# dd of the source to /dev/null (the disk's read speed when cold); cp of the
# source; cp followed by sync of the copy; the stream. The stored artifact
# is compared with the source byte for byte. The local sink fsyncs before
# its rename, so "cp + sync" is the like-for-like baseline (both end with
# the data durable); the issue's target is stated against plain cp, which
# ends when the copy is in the page cache. Both ratios are printed.
#
# CACHE=cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before each timed
# step. The programs are cold too and fault back in as they run, as in a
# nightly run; the stream's clock starts once its plugins are up. (Reading
# the binaries back with cat first was tried: it raises every process's
# peak RSS by 4-6 MiB, since pages cached that way are mapped in larger
# batches on a fault.) In a VM, drop_caches empties the guest's cache
# only; the host may still cache the disk image, which dd's speed shows.
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
CACHE=${CACHE:-warm}
case "$CACHE" in
warm | cold) ;;
*) echo "bench: CACHE is warm or cold" >&2; exit 2 ;;
esac
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

# cache prepares the page cache for the next timed step: nothing when warm;
# when cold, every clean page goes, so the step reads from the disk.
cache() {
  [ "$CACHE" = cold ] || return 0
  sync
  if ! echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    echo "bench: CACHE=cold needs root to write /proc/sys/vm/drop_caches (refused here)" >&2
    exit 2
  fi
}

now() { date +%s.%N; }
echo "cache=$CACHE road=$ROAD size=${SIZE_MIB}MiB dir=$WORK GOGC=${GOGC:-unset} fs=$(df --output=source,fstype "$WORK" | tail -1 | tr -s ' ')"
printf "%-4s %-5s %7s %6s %7s %7s %7s %7s %5s %-16s %6s\n" run load dd_MiB/s cp_s cp+sync stream_s r_cp r_sync cpu_s "rss host/sink/exp" rss_MiB
for i in $(seq "$RUNS"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  cache; d0=$(now); dd if="$WORK/src.bin" of=/dev/null bs=1M status=none; d1=$(now)
  cache; t0=$(now); cp "$WORK/src.bin" "$WORK/cp.bin"; t1=$(now); sync "$WORK/cp.bin"; t2=$(now)
  rm -f "$WORK/cp.bin"; rm -rf "$WORK/sink"; sync

  cache
  "$WORK/stream" -road "$ROAD" -file "$WORK/src.bin" -out "$WORK/sink" -agolpipe "$WORK/agolpipe" -exporter "$WORK/exporter" -sha256 "$SUM" > "$WORK/result.txt"
  stored=$(find "$WORK/sink" -type f -size "$((SIZE_MIB * 1024))k")
  cmp -s "$WORK/src.bin" "$stored" || { echo "bench: the stored artifact differs from the source" >&2; exit 1; }

  awk -v run="$i" -v load="$load" -v mib="$SIZE_MIB" -v dd="$(echo "$d1 - $d0" | bc)" -v cp="$(echo "$t1 - $t0" | bc)" -v cps="$(echo "$t2 - $t0" | bc)" '
    /^seconds/ { s = $2 }
    /^cpu_s/ { cpu += $3 }
    /^rss_kib/ { if ($2 == "host") h = $3; else p[++n] = $3; total += $3 }
    END {
      # plugins in start order: the local sink starts first, then the exporter
      printf "%-4s %-5s %7.0f %7.2f %7.2f %7.2f %6.2fx %6.2fx %5.2f %5.1f/%4.1f/%4.1f %7.1f\n", run, load, mib / dd, cp, cps, s, cp / s, cps / s, cpu, h/1024, p[1]/1024, p[2]/1024, total / 1024
    }' "$WORK/result.txt" | tee -a "$WORK/runs.txt"
done

# Medians of every column; the per-process RSS column (host/sink/exporter)
# gets one median per process.
awk -v cache="$CACHE" '
  {
    split($10, pr, "/")
    $10 = pr[1] " " pr[2] " " pr[3]; $0 = $0
    for (c = 2; c <= NF; c++) v[c, NR] = $c + 0
    rows = NR; cols = NF
  }
  END {
    printf "median of %d runs, cache=%s:\n", rows, cache
    split("load dd_MiB/s cp_s cp+sync_s stream_s ratio_cp ratio_cp+sync cpu_s rss_host_MiB rss_sink_MiB rss_exporter_MiB rss_total_MiB", name, " ")
    for (c = 2; c <= cols; c++) {
      n = 0; for (r = 1; r <= rows; r++) a[++n] = v[c, r]
      for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
      m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      printf "  %-18s %.2f\n", name[c - 1], m
    }
    printf "targets: ratio_cp >= 0.80, rss_total <= 100 MB (95.4 MiB)\n"
  }' "$WORK/runs.txt"
