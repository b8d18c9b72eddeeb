#!/usr/bin/env bash
# Install, start, stop or describe the real servers that the sink and
# notifier tests talk to, all on 127.0.0.1: Azurite (Azure Blob), versitygw
# and MinIO (S3), Samba (SMB) and Mailpit (SMTP); plus the protobuf tools
# (buf, protoc-gen-go, protoc-gen-go-grpc) that scripts/proto.sh uses.
# Self-contained: needs Go, Node with npm, curl, and root with apt-get for
# Samba. Nothing is fetched beyond the Go module proxy, npm and Debian.
#
#   scripts/test-servers.sh install [NAME...]  # fetch the pinned versions (idempotent)
#   scripts/test-servers.sh start [NAME...]    # install if needed, start, wait until ready,
#                                              # write $TEST_INFRA_DIR/env
#   scripts/test-servers.sh stop [NAME...]     # stop by recorded PID (default: all started)
#   scripts/test-servers.sh running            # names of the servers running now
#   scripts/test-servers.sh env                # print the env file
#
# NAME is one of azurite versitygw minio samba mailpit (servers) or buf
# (tools only). Default: $TEST_SERVERS, else all five servers.
#
# Everything lives under TEST_INFRA_DIR (default /tmp/test-infra): bin/ (Go
# binaries, version stamps), npm/ (Azurite, buf), run/ (NAME.pid, NAME.log,
# NAME.env), data/ (wiped at each start unless TEST_INFRA_KEEP_DATA=1),
# samba/ (a private smb.conf and state: nothing under /etc or /var/lib),
# env (what internal/testservers reads, and what `. env` exports).
#
# Ports: each server has a default (below; override with the variable). When
# the default is taken by something else, start takes the next free port and
# says so; the env file always holds the ports actually used, and the tests
# read them from there, so two TEST_INFRA_DIRs can run side by side.
#
# Cold install on 2 cores: about 5 minutes of Go builds without MinIO, and
# about 5 more for MinIO (a 150 MB binary); Samba's apt install about 1.5
# minutes. With warm caches it is seconds. TEST_SERVERS="azurite versitygw
# samba mailpit" leaves MinIO out (its subtests then skip unless
# AGOLPIPE_REQUIRE_MINIO=1).
set -euo pipefail

TEST_INFRA_DIR=${TEST_INFRA_DIR:-/tmp/test-infra}
export TEST_INFRA_DIR
BIN=$TEST_INFRA_DIR/bin
NPM=$TEST_INFRA_DIR/npm
RUN=$TEST_INFRA_DIR/run
DATA=$TEST_INFRA_DIR/data

# Pinned versions. The registries this project is tested against refuse some
# versions and some `@latest` look-ups, so every version here is explicit and
# known to install; bump them deliberately.
AZURITE_VERSION=3.35.0    # 3.36 and later need Node 22
VERSITYGW_VERSION=v1.8.0
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MAILPIT_VERSION=v1.22.3   # built from its module (see install_mailpit)
MAILPIT_SUM=h1:czrUSeSjlKWLbKfsvSQkmG5hnjRQt0GcPkD5VNOyj/I=
BUF_VERSION=1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

# Default ports (loopback only).
AZURITE_BLOB_PORT=${AZURITE_BLOB_PORT:-10000}
VGW_PORT=${VGW_PORT:-7070}
MINIO_PORT=${MINIO_PORT:-9000}
MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT:-9001}
SMB_PORT=${SMB_PORT:-4450}
SMTP_PORT=${SMTP_PORT:-1025}
MAILPIT_HTTP_PORT=${MAILPIT_HTTP_PORT:-8025}

# Test-only credentials. Azurite's account and key are its documented
# well-known development values.
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
VGW_ACCESS_KEY=vgwadmin
VGW_SECRET_KEY=vgwsecret
MINIO_ACCESS_KEY=minioadmin
MINIO_SECRET_KEY=minioadmin
SMB_USER=smbtest
SMB_PASS=smbtest-pass
SMB_SHARE=testshare

SERVERS="azurite versitygw minio samba mailpit"
READY_TIMEOUT_S=${TEST_SERVERS_READY_TIMEOUT:-60}

log() { printf 'test-servers: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { date +%s%3N; }
need() { command -v "$1" >/dev/null || die "$1 is needed ($2)"; }

# ---------------------------------------------------------------- install

stamp_ok() { [ -f "$BIN/.$1.version" ] && [ "$(cat "$BIN/.$1.version")" = "$2" ]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }

# go_install NAME VERSION PACKAGE: a Go tool built into $BIN.
go_install() {
  local name=$1 version=$2 pkg=$3 t0
  if stamp_ok "$name" "$version" && [ -x "$BIN/$name" ]; then return; fi
  need go "install Go 1.26 or later"
  log "installing $name $version (Go build; minutes when the build cache is cold)"
  t0=$(now_ms)
  GOBIN=$BIN GOFLAGS=-buildvcs=false go install "$pkg@$version"
  stamp "$name" "$version"
  log "$name installed in $(( ($(now_ms) - t0) / 1000 )) s"
}

# npm_install NAME VERSION SPEC CHECK-PATH: an npm package under $NPM.
npm_install() {
  local name=$1 version=$2 spec=$3 check=$4
  if stamp_ok "$name" "$version" && [ -e "$check" ]; then return; fi
  need npm "install Node.js 20 and npm, e.g. apt-get install nodejs npm"
  log "installing $spec"
  npm install --prefix "$NPM" --no-audit --no-fund --save-exact "$spec" >&2
  stamp "$name" "$version"
}

install_azurite() {
  npm_install azurite "$AZURITE_VERSION" "azurite@$AZURITE_VERSION" "$NPM/node_modules/.bin/azurite-blob"
}

install_versitygw() {
  go_install versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw
}

install_minio() {
  go_install minio "$MINIO_VERSION" github.com/minio/minio
}

install_mailpit() {
  if stamp_ok mailpit "$MAILPIT_VERSION" && [ -x "$BIN/mailpit" ]; then return; fi
  need go "install Go 1.26 or later"
  # `go install github.com/axllent/mailpit@v1.22.3` does not work through a
  # proxy that refuses the module's version list, and the checksum database
  # has no entry for it. So download the module with the checksum database
  # off for this one module, compare its hash with the pinned one ourselves,
  # and build inside it, where its own go.sum checks every dependency.
  local dir sum t0
  t0=$(now_ms)
  log "installing mailpit $MAILPIT_VERSION (Go build)"
  read -r dir sum < <(GONOSUMDB=github.com/axllent/mailpit GOFLAGS=-mod=mod \
    go mod download -json "github.com/axllent/mailpit@$MAILPIT_VERSION" |
    awk -F'"' '/"Dir":/ {d=$4} /"Sum":/ {s=$4} END {print d, s}')
  [ "$sum" = "$MAILPIT_SUM" ] || die "mailpit module hash is $sum, expected $MAILPIT_SUM"
  (cd "$dir" && GOFLAGS=-buildvcs=false go build -trimpath -o "$BIN/mailpit" .)
  stamp mailpit "$MAILPIT_VERSION"
  log "mailpit installed in $(( ($(now_ms) - t0) / 1000 )) s"
}

install_samba() {
  if command -v smbd >/dev/null && command -v smbpasswd >/dev/null; then return; fi
  [ "$(id -u)" = 0 ] || die "Samba's Debian package needs root (apt-get install samba smbclient), or leave samba out of TEST_SERVERS"
  need apt-get "Samba comes from Debian's package"
  log "installing samba from Debian (about 1.5 minutes)"
  apt-get update -qq
  # Without systemd the package starts no daemon; start_samba runs its own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends samba smbclient >/dev/null
}

install_buf() {
  # buf from npm is its prebuilt binary (seconds); `go install` of buf takes
  # minutes, so it is only the fallback when npm is missing.
  if stamp_ok buf "$BUF_VERSION" && [ -x "$BIN/buf" ]; then :
  elif command -v npm >/dev/null; then
    npm_install buf-npm "$BUF_VERSION" "@bufbuild/buf@$BUF_VERSION" "$NPM/node_modules/.bin/buf"
    local native
    native=$(ls "$NPM"/node_modules/@bufbuild/buf-*/bin/buf 2>/dev/null | head -1 || true)
    ln -sf "${native:-$NPM/node_modules/.bin/buf}" "$BIN/buf"
    stamp buf "$BUF_VERSION"
  else
    go_install buf "$BUF_VERSION" github.com/bufbuild/buf/cmd/buf
  fi
  # Each generator on its own: one go.mod for all three cannot satisfy both
  # buf's and protoc-gen-go's protobuf versions.
  go_install protoc-gen-go "$PROTOC_GEN_GO_VERSION" google.golang.org/protobuf/cmd/protoc-gen-go
  go_install protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" google.golang.org/grpc/cmd/protoc-gen-go-grpc
}

# ---------------------------------------------------------------- start

pid_alive() { # running and not a zombie (killed daemons can linger as zombies)
  local st
  [ -r "/proc/$1/stat" ] || return 1
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$st" != Z ] && [ "$st" != X ]
}
# The program a server's PID must still be, so a recycled PID is never killed.
program_of() {
  case $1 in
  azurite) echo azurite-blob ;; samba) echo smbd ;; *) echo "$1" ;;
  esac
}
running() { # NAME: started by this TEST_INFRA_DIR and still that program
  local pf=$RUN/$1.pid pid
  [ -f "$pf" ] || return 1
  pid=$(cat "$pf")
  pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$(program_of "$1")"
}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port VARNAME: keep the port in VARNAME when it is free, else take the
# next free one above it (and remember it, so two ports of one server never
# collide).
TAKEN=" "
free_port() {
  local var=$1 p=${!1} first=${!1}
  while port_taken "$p" || [[ $TAKEN == *" $p "* ]]; do
    p=$((p + 1))
    [ $((p - first)) -lt 200 ] || die "no free port in $first-$p for $var"
  done
  [ "$p" = "$first" ] || log "port $first is in use; $var=$p"
  TAKEN="$TAKEN$p "
  printf -v "$var" '%s' "$p"
}
fresh() { if [ "${TEST_INFRA_KEEP_DATA:-0}" != 1 ]; then rm -rf "$1"; fi; mkdir -p "$1"; }

# launch NAME CMD...: in its own session (so a Ctrl-C of the caller does not
# reach it), output to run/NAME.log, PID to run/NAME.pid.
launch() {
  local name=$1
  shift
  setsid "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}
# ready NAME CHECK...: poll CHECK every 100 ms until it succeeds, the server
# exits, or READY_TIMEOUT_S passes.
ready() {
  local name=$1 pid t0
  shift
  pid=$(cat "$RUN/$name.pid")
  t0=$(now_ms)
  until "$@"; do
    if ! pid_alive "$pid"; then
      tail -20 "$RUN/$name.log" >&2
      die "$name exited while starting (log: $RUN/$name.log)"
    fi
    if [ $(($(now_ms) - t0)) -gt $((READY_TIMEOUT_S * 1000)) ]; then
      tail -20 "$RUN/$name.log" >&2
      die "$name not ready after ${READY_TIMEOUT_S} s (log: $RUN/$name.log)"
    fi
    sleep 0.1
  done
  log "$name ready on 127.0.0.1 (pid $pid, $(($(now_ms) - t0)) ms)"
}
http_answers() { # any HTTP status at all means the server is up
  local code
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true)
  [ -n "$code" ] && [ "$code" != 000 ]
}
http_ok() { [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true)" = 200 ]; }

start_azurite() {
  if ! running azurite; then
    free_port AZURITE_BLOB_PORT
    fresh "$DATA/azurite"
    # --disableTelemetry: Azurite otherwise phones Microsoft's telemetry.
    # --skipApiVersionCheck: the Go SDK's API version is newer than 3.35 knows.
    launch azurite "$NPM/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
      --blobPort "$AZURITE_BLOB_PORT" --location "$DATA/azurite" --silent \
      --skipApiVersionCheck --disableTelemetry --disableProductStyleUrl
    # Its answer to an unsigned list is 403; any answer means ready.
    ready azurite http_answers "http://127.0.0.1:$AZURITE_BLOB_PORT/$AZURITE_ACCOUNT?comp=list"
    cat >"$RUN/azurite.env" <<EOF
export AZURITE_BLOB_PORT=$AZURITE_BLOB_PORT
export AZURE_STORAGE_BLOB_ENDPOINT=http://127.0.0.1:$AZURITE_BLOB_PORT/$AZURITE_ACCOUNT
export AZURE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$AZURITE_ACCOUNT;AccountKey=$AZURITE_KEY;BlobEndpoint=http://127.0.0.1:$AZURITE_BLOB_PORT/$AZURITE_ACCOUNT;'
EOF
  fi
}

start_versitygw() {
  if ! running versitygw; then
    free_port VGW_PORT
    fresh "$DATA/versitygw"
    # The posix backend stores objects as files and needs xattrs (ext4, tmpfs).
    ROOT_ACCESS_KEY_ID=$VGW_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$VGW_SECRET_KEY \
      launch versitygw "$BIN/versitygw" --port "127.0.0.1:$VGW_PORT" --quiet posix "$DATA/versitygw"
    ready versitygw http_answers "http://127.0.0.1:$VGW_PORT/"
    cat >"$RUN/versitygw.env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$VGW_PORT
export S3_REGION=us-east-1
export S3_ACCESS_KEY=$VGW_ACCESS_KEY
export S3_SECRET_KEY=$VGW_SECRET_KEY
export VGW_PORT=$VGW_PORT
EOF
  fi
}

start_minio() {
  if ! running minio; then
    free_port MINIO_PORT
    free_port MINIO_CONSOLE_PORT
    fresh "$DATA/minio"
    MINIO_ROOT_USER=$MINIO_ACCESS_KEY MINIO_ROOT_PASSWORD=$MINIO_SECRET_KEY MINIO_BROWSER=off MINIO_UPDATE=off \
      launch minio "$BIN/minio" server --quiet --address "127.0.0.1:$MINIO_PORT" \
      --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" "$DATA/minio"
    ready minio http_ok "http://127.0.0.1:$MINIO_PORT/minio/health/ready"
    cat >"$RUN/minio.env" <<EOF
export MINIO_ENDPOINT=http://127.0.0.1:$MINIO_PORT
export MINIO_ACCESS_KEY=$MINIO_ACCESS_KEY
export MINIO_SECRET_KEY=$MINIO_SECRET_KEY
EOF
  fi
}

start_samba() {
  local S=$TEST_INFRA_DIR/samba share=$DATA/smbshare
  if ! running samba; then
    [ "$(id -u)" = 0 ] || die "Samba needs root here (a Unix account for its user, smbpasswd); or leave samba out of TEST_SERVERS"
    free_port SMB_PORT
    mkdir -p "$S"/{private,lock,state,cache,pid,log,ncalrpc}
    fresh "$share"
    id "$SMB_USER" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$SMB_USER"
    chown "$SMB_USER:" "$share"
    # Every directory Samba keeps state in is under $S, so this never touches
    # the machine's own Samba configuration.
    cat >"$S/smb.conf" <<EOF
[global]
   workgroup = WORKGROUP
   server role = standalone server
   interfaces = lo 127.0.0.1
   bind interfaces only = yes
   smb ports = $SMB_PORT
   disable netbios = yes
   server min protocol = SMB2_10
   ntlm auth = ntlmv2-only
   map to guest = never
   private dir = $S/private
   lock directory = $S/lock
   state directory = $S/state
   cache directory = $S/cache
   pid directory = $S/pid
   ncalrpc dir = $S/ncalrpc
   log file = $S/log/log.%m
   passdb backend = tdbsam:$S/private/passdb.tdb
   load printers = no
   printing = bsd
   printcap name = /dev/null
   disable spoolss = yes

[$SMB_SHARE]
   path = $share
   read only = no
   valid users = $SMB_USER
   create mask = 0644
   directory mask = 0755
EOF
    printf '%s\n%s\n' "$SMB_PASS" "$SMB_PASS" | smbpasswd -c "$S/smb.conf" -s -a "$SMB_USER" >/dev/null
    launch samba smbd --foreground --no-process-group --debug-stdout -d 1 -s "$S/smb.conf"
    ready samba port_taken "$SMB_PORT"
    cat >"$RUN/samba.env" <<EOF
export SMB_HOST=127.0.0.1
export SMB_PORT=$SMB_PORT
export SMB_USER=$SMB_USER
export SMB_PASS=$SMB_PASS
export SMB_SHARE=$SMB_SHARE
export SMB_UNC='\\\\127.0.0.1\\$SMB_SHARE'
export SMB_SHARE_DIR=$share
EOF
  fi
}

start_mailpit() {
  if ! running mailpit; then
    free_port SMTP_PORT
    free_port MAILPIT_HTTP_PORT
    fresh "$DATA/mailpit"
    # --smtp-auth-accept-any: advertise AUTH (net/smtp refuses to send
    # credentials otherwise); --database: else it keeps a file in /tmp.
    launch mailpit "$BIN/mailpit" --listen "127.0.0.1:$MAILPIT_HTTP_PORT" --smtp "127.0.0.1:$SMTP_PORT" \
      --database "$DATA/mailpit/mailpit.db" --smtp-disable-rdns \
      --smtp-auth-accept-any --smtp-auth-allow-insecure --quiet
    ready mailpit http_ok "http://127.0.0.1:$MAILPIT_HTTP_PORT/readyz"
    cat >"$RUN/mailpit.env" <<EOF
export SMTP_HOST=127.0.0.1
export SMTP_PORT=$SMTP_PORT
export MAILPIT_HTTP_PORT=$MAILPIT_HTTP_PORT
export MAILPIT_API=http://127.0.0.1:$MAILPIT_HTTP_PORT/api/v1
EOF
  fi
}

write_env() {
  local n
  {
    echo "# written by scripts/test-servers.sh at $(date -u +%FT%TZ)"
    echo "export TEST_INFRA_DIR=$TEST_INFRA_DIR"
    echo "export PATH=$BIN:\$PATH"
    for n in $SERVERS; do
      if running "$n" && [ -f "$RUN/$n.env" ]; then cat "$RUN/$n.env"; fi
    done
  } >"$TEST_INFRA_DIR/env.tmp"
  mv "$TEST_INFRA_DIR/env.tmp" "$TEST_INFRA_DIR/env"
}

# ---------------------------------------------------------------- stop

stop_pid() { # NAME PIDFILE PROGRAM
  local name=$1 pf=$2 program=$3 pid i
  [ -f "$pf" ] || return 0
  pid=$(cat "$pf")
  if [ -n "$pid" ] && pid_alive "$pid"; then
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$program"; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
      if pid_alive "$pid"; then
        log "$name (pid $pid) still running 5 s after TERM; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      log "stopped $name (pid $pid)"
    else
      log "pid $pid of $pf is no longer $name; left alone"
    fi
  fi
  rm -f "$pf"
}

stop_server() {
  stop_pid "$1" "$RUN/$1.pid" "$(program_of "$1")"
  rm -f "$RUN/$1.env"
  if [ "$1" = samba ]; then
    # smbd starts samba-dcerpcd on demand in a process group of its own; it
    # exits when idle, but may still be there.
    stop_pid samba-dcerpcd "$TEST_INFRA_DIR/samba/pid/samba-dcerpcd.pid" samba-dcerpcd
  fi
}

# ---------------------------------------------------------------- main

cmd=${1:-}
[ $# -gt 0 ] && shift
names=${*:-${TEST_SERVERS:-$SERVERS}}
for n in $names; do
  case " $SERVERS buf " in *" $n "*) ;; *) die "unknown name $n (known: $SERVERS buf)" ;; esac
done
mkdir -p "$BIN" "$NPM" "$RUN" "$DATA"

case $cmd in
install)
  for n in $names; do "install_$n"; done
  ;;
start)
  need curl "readiness checks use it; apt-get install curl"
  for n in $names; do "install_$n"; done
  for n in $names; do [ "$n" = buf ] || "start_$n"; done
  write_env
  log "env written to $TEST_INFRA_DIR/env (internal/testservers reads it; '. $TEST_INFRA_DIR/env' exports it)"
  ;;
stop)
  for n in $names; do [ "$n" = buf ] || stop_server "$n"; done
  write_env
  ;;
running)
  for n in $SERVERS; do if running "$n"; then echo "$n"; fi; done
  ;;
env)
  cat "$TEST_INFRA_DIR/env"
  ;;
*)
  echo "usage: $0 install|start|stop|running|env [azurite|versitygw|minio|samba|mailpit|buf ...]" >&2
  exit 2
  ;;
esac
