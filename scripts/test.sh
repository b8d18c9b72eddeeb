#!/usr/bin/env bash
# The test command of the README, and what CI runs (.ci/run calls it).
#
# On a fresh machine it installs what the tests need (Go modules, the test
# servers Azurite, versitygw, MinIO, Samba and Mailpit, buf, Node packages for the
# Esri client test), starts the servers on 127.0.0.1, runs every check, and
# stops the servers it started. Nothing here reaches beyond the Go module
# proxy, npm and Debian's packages.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -short     # skip benchmarks-sized checks; extra args go to go test
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export TEST_INFRA_DIR=${TEST_INFRA_DIR:-/tmp/test-infra}
# With these set, a test whose server or tool is missing fails instead of skipping.
export AGOLPIPE_REQUIRE_TEST_SERVERS=1 AGOLPIPE_REQUIRE_NODE=1
# MinIO is optional for a developer's go test, but started here (unless
# TEST_SERVERS leaves it out), so required.
case " ${TEST_SERVERS:-minio} " in *" minio "*) export AGOLPIPE_REQUIRE_MINIO=1 ;; esac
export GOFLAGS=${GOFLAGS:--buildvcs=false}

step() { printf '\n=== %s\n' "$*"; }

step "Go modules"
go mod download
go mod verify >/dev/null

step "test servers"
# Stop afterwards only the servers this run started: ones already running
# (a developer's, or another checkout's with the same TEST_INFRA_DIR) stay.
already=" $(scripts/test-servers.sh running | tr '\n' ' ') "
scripts/test-servers.sh start
started=""
for s in $(scripts/test-servers.sh running); do
  case $already in *" $s "*) ;; *) started="$started $s" ;; esac
done
if [ -n "$started" ]; then
  # shellcheck disable=SC2086
  trap 'scripts/test-servers.sh stop $started || true' EXIT
fi
# shellcheck disable=SC1090,SC1091
. "$TEST_INFRA_DIR/env"

step "format and vet"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '\.pb\.go$'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
go vet ./...
# staticcheck, pinned (v0.8.2 is release 2026.2.2) and installed from the Go
# module proxy; bump it deliberately, since a new release adds checks.
staticcheck_version=v0.8.2
go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
gobin=$(go env GOBIN)
"${gobin:-$(go env GOPATH)/bin}/staticcheck" ./...

step "generated protobuf is current, and protocol v1 not broken"
scripts/proto.sh check
scripts/proto.sh breaking

step "build for every OS (linux, windows, darwin on amd64; linux/arm64)"
# Each build compiles the whole dependency tree for its target, cold the
# first time: that was half of a first run. Every OS is built, so its own
# files (_windows.go, _unix.go, ...) compile and link; arm64 once, on Linux,
# which also builds without cgo as every cross build does. windows/arm64
# and darwin/arm64 add nothing of ours: no file of this repository differs
# by architecture (internal/repolint TestNoArchSpecificSource fails if one
# does; then add those targets back here). The host build shares the
# tests' cache.
go build -o /dev/null ./cmd/agolpipe
echo "ok $(go env GOOS)/$(go env GOARCH)"
for target in windows/amd64 darwin/amd64 linux/arm64; do
  GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go build -o /dev/null ./cmd/agolpipe
  echo "ok $target"
done

step "tests compile and vet for windows and darwin (bench/ is Linux-only: /proc)"
for os in windows darwin; do
  GOOS=$os go vet $(go list ./... | grep -v /bench/)
  echo "ok $os"
done

step "tests"
go test -timeout 40m -count=1 "$@" ./...

step "example third-party plugin (its own module)"
(cd examples/sink-plugin && go test -count=1 ./...)

step "race detector on the concurrent packages"
go test -race -count=1 -timeout 20m ./core/engine/... ./sdk/...
