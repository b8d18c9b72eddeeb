#!/usr/bin/env bash
# Sink benchmarks against the real test servers (a benchmark, not a test):
#   1. one 1 GiB artifact into azure_blob (Azurite) and s3 (versitygw),
#      compared with rclone copying the same file to the same server;
#   2. fan-out of the same artifact to local + s3 + azure_blob at once,
#      compared with the slowest single sink, with peak RSS.
#
#   bench/sinks/run.sh            # SIZE_MIB=1024 RUNS=2 by default
#   SIZE_MIB=256 RUNS=1 bench/sinks/run.sh
#
# Needs: scripts/test-servers.sh start; rclone (apt-get install -y rclone).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-2}
FILE=${BENCH_FILE:-/tmp/bench-sinks-${SIZE_MIB}m.bin}
export TEST_INFRA_DIR=${TEST_INFRA_DIR:-/tmp/test-infra}
# shellcheck disable=SC1091
. "$TEST_INFRA_DIR/env"

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" != $((SIZE_MIB << 20)) ]; then
  echo "making $FILE ($SIZE_MIB MiB of random bytes)" >&2
  head -c $((SIZE_MIB << 20)) /dev/urandom >"$FILE"
fi
go build -o /tmp/bench-sinks ./bench/sinks

ours() { /tmp/bench-sinks -file "$FILE" -sinks "$1"; }

# rclone remotes from the environment, no config file.
export RCLONE_CONFIG_VGW_TYPE=s3 RCLONE_CONFIG_VGW_PROVIDER=Other RCLONE_CONFIG_VGW_ENDPOINT="$S3_ENDPOINT" \
  RCLONE_CONFIG_VGW_ACCESS_KEY_ID="$S3_ACCESS_KEY" RCLONE_CONFIG_VGW_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
  RCLONE_CONFIG_VGW_REGION="${S3_REGION:-us-east-1}" RCLONE_CONFIG_VGW_FORCE_PATH_STYLE=true
# rclone 1.60 takes an endpoint suffix, not a URL, and its use_emulator is
# broken; a container SAS URL works and points it at Azurite.
RCLONE_CONFIG_AZ_SAS_URL=$(/tmp/bench-sinks -azure-sas -bucket bench)
export RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_SAS_URL
rclone_copy() { # remote:path
  local t0 t1
  t0=$(date +%s.%N)
  # AWS_CA_BUNDLE makes rclone's S3 client refuse its own transport; loopback is plain http.
  env -u AWS_CA_BUNDLE rclone copyto --no-check-dest --s3-no-check-bucket "$FILE" "$1" >/dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v m="$SIZE_MIB" -v d="$1" 'BEGIN{w=b-a; printf "rclone %s size=%dMiB wall=%.2fs throughput=%.1fMiB/s\n", d, m, w, m/w}'
  env -u AWS_CA_BUNDLE rclone deletefile "$1" >/dev/null 2>&1 || true
}

/tmp/bench-sinks -file /dev/null -sinks s3 >/dev/null 2>&1 || true   # creates the bucket
for i in $(seq 1 "$RUNS"); do
  echo "--- run $i"
  ours s3
  rclone_copy "vgw:bench/rclone-$i.bin"
  ours azure_blob
  rclone_copy "az:bench/rclone-$i.bin"
  ours local
  ours local,s3,azure_blob
done
