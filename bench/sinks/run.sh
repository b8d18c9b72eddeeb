#!/usr/bin/env bash
# Sink benchmarks against the real test servers (a benchmark, not a test),
# every case through core/engine.Run (bench/sinks/main.go):
#   1. one 1 GiB artifact into s3 (versitygw), azure_blob (Azurite) and
#      local, one sink per run: the single-sink baselines;
#   2. the same artifact fanned out by the engine to local + s3 + azure_blob,
#      compared per run with the slowest single sink of that run;
#   3. with RCLONE=1, rclone copying the same file to the same servers.
#
#   RUNS=3 bench/sinks/run.sh           # SIZE_MIB=1024 RUNS=3 ROAD=plugin by default
#   ROAD=inprocess bench/sinks/run.sh   # sinks inside the benchmark process
#   SIZE_MIB=256 RUNS=1 RCLONE=1 bench/sinks/run.sh
#   LIMIT=s3=50,azure_blob=30 bench/sinks/run.sh   # sinks read at most that
#                                   # many MiB/s each, in every case: slower
#                                   # links, as to remote destinations
#   SET=s3.part_size_mib=8,s3.concurrency=4 bench/sinks/run.sh   # sink
#                                   # settings over the defaults, every case
#
# ROAD=plugin serves the sinks from the agolpipe binary as plugin
# subprocesses, as `agolpipe run` does; peak RSS is then the sum over the
# host and the three sink processes (VmHWM), and PSS the sampled peak of the
# sum of their proportional set sizes (shared binary pages counted once).
# Every line prints the load average at its start and the CPU seconds that
# Azurite and versitygw spent during it: they run on this machine's cores.
#
# Needs: scripts/test-servers.sh start; for RCLONE=1, rclone
# (apt-get install -y rclone).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
ROAD=${ROAD:-plugin}
RCLONE=${RCLONE:-0}
LIMIT=${LIMIT:-}
SET=${SET:-}
FILE=${BENCH_FILE:-/tmp/bench-sinks-${SIZE_MIB}m.bin}
export TEST_INFRA_DIR=${TEST_INFRA_DIR:-/tmp/test-infra}
# shellcheck disable=SC1091
. "$TEST_INFRA_DIR/env"

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" != $((SIZE_MIB << 20)) ]; then
  echo "making $FILE ($SIZE_MIB MiB of random bytes)" >&2
  head -c $((SIZE_MIB << 20)) /dev/urandom >"$FILE"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-sinks.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Built, then copied into place as an installer would (see bench/stream:
# a just-linked binary maps more of itself into each process).
go build -o "$WORK/b/agolpipe" ./cmd/agolpipe
go build -o "$WORK/b/bench-sinks" ./bench/sinks
cp "$WORK/b/agolpipe" "$WORK/b/bench-sinks" "$WORK/" && rm -rf "$WORK/b"
case "$ROAD" in
plugin) road=(-agolpipe "$WORK/agolpipe") ;;
inprocess) road=() ;;
*) echo "bench: ROAD is plugin or inprocess" >&2; exit 2 ;;
esac

ours() { # sinks run
  # Each case starts with the page cache clean: without this it pays for
  # writing back the gigabytes the previous case left dirty (the servers
  # and the local sink all write to this disk), and later cases ran slower
  # than earlier ones of the same run.
  sync
  "$WORK/bench-sinks" -file "$FILE" -local-dir "$WORK/local" -sinks "$1" -limit "$LIMIT" -set "$SET" "${road[@]}" >"$WORK/out.txt"
  cat "$WORK/out.txt" >&2
  sed -n 's/^result /case='"$1"' run='"$2"' /p' "$WORK/out.txt" >>"$WORK/results.txt"
}

if [ "$RCLONE" = 1 ]; then
  # rclone remotes from the environment, no config file.
  export RCLONE_CONFIG_VGW_TYPE=s3 RCLONE_CONFIG_VGW_PROVIDER=Other RCLONE_CONFIG_VGW_ENDPOINT="$S3_ENDPOINT" \
    RCLONE_CONFIG_VGW_ACCESS_KEY_ID="$S3_ACCESS_KEY" RCLONE_CONFIG_VGW_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
    RCLONE_CONFIG_VGW_REGION="${S3_REGION:-us-east-1}" RCLONE_CONFIG_VGW_FORCE_PATH_STYLE=true
  # rclone 1.60 takes an endpoint suffix, not a URL, and its use_emulator is
  # broken; a container SAS URL works and points it at Azurite.
  RCLONE_CONFIG_AZ_SAS_URL=$("$WORK/bench-sinks" -azure-sas -bucket bench)
  export RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_SAS_URL
fi
rclone_copy() { # remote:path
  [ "$RCLONE" = 1 ] || return 0
  local t0 t1
  sync
  t0=$(date +%s.%N)
  # AWS_CA_BUNDLE makes rclone's S3 client refuse its own transport; loopback is plain http.
  env -u AWS_CA_BUNDLE rclone copyto --no-check-dest --s3-no-check-bucket "$FILE" "$1" >/dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v m="$SIZE_MIB" -v d="$1" 'BEGIN{w=b-a; printf "rclone %s size=%dMiB wall=%.2fs throughput=%.1fMiB/s\n", d, m, w, m/w}' | tee -a "$WORK/rclone.txt"
  env -u AWS_CA_BUNDLE rclone deletefile "$1" >/dev/null 2>&1 || true
}

echo "road=$ROAD limit=${LIMIT:-none} set=${SET:-defaults} size=${SIZE_MIB}MiB runs=$RUNS file=$FILE" >&2
for i in $(seq 1 "$RUNS"); do
  echo "--- run $i" >&2
  ours s3 "$i"
  rclone_copy "vgw:bench/rclone-$i.bin"
  ours azure_blob "$i"
  rclone_copy "az:bench/rclone-$i.bin"
  ours local "$i"
  ours local,s3,azure_blob "$i"
done

# Per run: the fan-out's wall time over the slowest single sink of the same
# run; then medians over the runs of every column.
awk -v mib="$SIZE_MIB" -v road="$ROAD" -v limit="${LIMIT:-none}" '
  {
    for (f = 1; f <= NF; f++) { split($f, kv, "="); r[kv[1]] = kv[2] }
    c = r["case"]; n = r["run"]
    cases[c] = 1; runs[n] = 1
    for (k in r) if (k != "case" && k != "run") v[c, n, k] = r[k]
    delete r
  }
  function median(arr, m,   x, y, t) {
    for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (arr[y] < arr[x]) { t = arr[x]; arr[x] = arr[y]; arr[y] = t }
    return (m % 2) ? arr[(m + 1) / 2] : (arr[m / 2] + arr[m / 2 + 1]) / 2
  }
  END {
    fan = "local,s3,azure_blob"
    printf "\nper run (road=%s, limit=%s, %d MiB):\n", road, limit, mib
    printf "%-4s %-6s %8s %8s %8s %8s %7s %8s %8s %8s %8s\n", "run", "load", "s3_s", "azure_s", "local_s", "fanout_s", "ratio", "rss_MiB", "pss_MiB", "azurite", "vgw_cpu"
    m = 0
    for (n = 1; n in runs; n++) {
      slow = v["s3", n, "wall"]
      if (v["azure_blob", n, "wall"] > slow) slow = v["azure_blob", n, "wall"]
      if (v["local", n, "wall"] > slow) slow = v["local", n, "wall"]
      ratio = v[fan, n, "wall"] / slow
      printf "%-4d %-6.2f %8.2f %8.2f %8.2f %8.2f %6.2fx %8.1f %8.1f %7.2fs %7.2fs\n", n, v[fan, n, "load"], v["s3", n, "wall"], v["azure_blob", n, "wall"], v["local", n, "wall"], v[fan, n, "wall"], ratio, v[fan, n, "rss"], v[fan, n, "pss"], v[fan, n, "cpu_azurite"], v[fan, n, "cpu_versitygw"]
      m++
      a_load[m] = v[fan, n, "load"]; a_ratio[m] = ratio; a_fan[m] = v[fan, n, "wall"]; a_slow[m] = slow
      a_s3[m] = v["s3", n, "wall"]; a_az[m] = v["azure_blob", n, "wall"]; a_loc[m] = v["local", n, "wall"]
      a_rss[m] = v[fan, n, "rss"]; a_pss[m] = v[fan, n, "pss"]; a_azc[m] = v[fan, n, "cpu_azurite"]; a_vgc[m] = v[fan, n, "cpu_versitygw"]
      a_hc[m] = v[fan, n, "cpu_host"] + v[fan, n, "cpu_plugins"]
      a_fh[m] = v[fan, n, "host_rss"]; a_fl[m] = v[fan, n, "rss_local"]; a_fs[m] = v[fan, n, "rss_s3"]; a_fa[m] = v[fan, n, "rss_azure_blob"]
      a_s3rss[m] = v["s3", n, "rss"]; a_azrss[m] = v["azure_blob", n, "rss"]; a_locrss[m] = v["local", n, "rss"]
    }
    printf "median of %d runs:\n", m
    printf "  load (at fan-out start)  %.2f\n", median(a_load, m)
    printf "  s3 alone                 %.2f s (%.0f MiB/s), peak RSS %.1f MiB\n", median(a_s3, m), mib / median(a_s3, m), median(a_s3rss, m)
    printf "  azure_blob alone         %.2f s (%.0f MiB/s), peak RSS %.1f MiB\n", median(a_az, m), mib / median(a_az, m), median(a_azrss, m)
    printf "  local alone              %.2f s (%.0f MiB/s), peak RSS %.1f MiB\n", median(a_loc, m), mib / median(a_loc, m), median(a_locrss, m)
    printf "  slowest single sink      %.2f s\n", median(a_slow, m)
    printf "  fan-out                  %.2f s (%.0f MiB/s)\n", median(a_fan, m), mib / median(a_fan, m)
    printf "  ratio fan-out / slowest  %.2fx (target <= 1.3x)\n", median(a_ratio, m)
    printf "  fan-out peak RSS         %.1f MiB (sum of VmHWM; target <= 150 MB = 143.1 MiB)\n", median(a_rss, m)
    printf "  fan-out peak RSS by process: host %.1f, local %.1f, s3 %.1f, azure_blob %.1f MiB\n", median(a_fh, m), median(a_fl, m), median(a_fs, m), median(a_fa, m)
    printf "  fan-out peak PSS         %.1f MiB (sampled sum of Pss)\n", median(a_pss, m)
    printf "  fan-out CPU: agolpipe %.2f s, azurite %.2f s, versitygw %.2f s\n", median(a_hc, m), median(a_azc, m), median(a_vgc, m)
  }' "$WORK/results.txt"
