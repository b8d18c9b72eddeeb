#!/usr/bin/env bash
# Start, stop or describe the real test servers the sink and notifier tests
# use: Azurite (Azure Blob), versitygw and MinIO (S3), Samba (SMB) and
# Mailpit (SMTP), all on 127.0.0.1. The install and start logic lives in the shared
# test-infra scripts (pinned versions, gotchas); this wrapper finds them and
# keeps the env file where internal/testservers looks for it.
#
#   scripts/test-servers.sh start   # install if needed, start, write $TEST_INFRA_DIR/env
#   scripts/test-servers.sh stop    # stop what start.sh started (by recorded PID)
#   scripts/test-servers.sh env     # print the env file (`eval "$(scripts/test-servers.sh env)"`)
#
# AGOLPIPE_SHARED (default: <repo>/../shared) points at the shared folder;
# TEST_INFRA_DIR (default /tmp/test-infra) holds binaries, data, pids, env.
# TEST_SERVERS lists the components (default: azurite versitygw minio samba
# mailpit). MinIO's first install is a Go build of about 4 minutes and
# 1.5 GB of memory (later starts take under a second); without it the s3
# sink's MinIO subtests skip, e.g. TEST_SERVERS="azurite versitygw samba mailpit".
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${AGOLPIPE_SHARED:-$REPO/../shared}
TI=$SHARED/test-infra
export TEST_INFRA_DIR=${TEST_INFRA_DIR:-/tmp/test-infra}
COMPONENTS=${TEST_SERVERS:-azurite versitygw minio samba mailpit}

[ -x "$TI/start.sh" ] || { echo "test-servers: $TI/start.sh not found; set AGOLPIPE_SHARED to the shared folder" >&2; exit 2; }

case "${1:-}" in
start)
  # shellcheck disable=SC2086
  "$TI/install.sh" $COMPONENTS >&2
  # shellcheck disable=SC2086
  "$TI/start.sh" $COMPONENTS >&2
  echo "test-servers: env in $TEST_INFRA_DIR/env (internal/testservers reads it)" >&2
  ;;
stop)
  # shellcheck disable=SC2086
  "$TI/stop.sh" $COMPONENTS >&2
  ;;
env)
  cat "$TEST_INFRA_DIR/env"
  ;;
*)
  echo "usage: $0 start|stop|env" >&2
  exit 2
  ;;
esac
