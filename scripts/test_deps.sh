#!/usr/bin/env bash
# What `make test` needs beyond Python, on a Debian machine: installs the missing system packages
# and starts PostgreSQL and Redis when they are not answering. Called by `make test` and
# `.ci/run`; a no-op (well under a second) when everything is there.
#
#   chromium, chromium-driver   headless browser tests (report, dashboard)
#   docker-compose              validates docker/compose.yaml (no engine needed)
#   wrk                         API load benchmark
#   postgresql, redis-server    the real services the storage tests use
#
# Packages are installed with apt-get (as root, or through sudo). The tests connect to
# PostgreSQL as user postgres over 127.0.0.1 without a password (or to MLBEDGE_TEST_PG_URL):
# when this script installs PostgreSQL itself, it allows exactly that in pg_hba.conf.
set -euo pipefail
source "$(dirname "$0")/packages.sh"

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
fresh_pg=0
if ! command -v pg_ctlcluster >/dev/null && [ -z "${MLBEDGE_TEST_PG_URL:-}" ]; then
  need+=(postgresql)
  fresh_pg=1
fi

install_packages test_deps "${need[@]}" || exit 1

if [ -z "${MLBEDGE_TEST_PG_URL:-}" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  if [ "$fresh_pg" -eq 1 ]; then
    # A cluster this script just installed: let the tests in as postgres over loopback.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi
for _ in $(seq 1 30); do
  if { [ -n "${MLBEDGE_TEST_PG_URL:-}" ] || pg_isready -h 127.0.0.1 -p 5432 -q; } \
    && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "test_deps: PostgreSQL on 127.0.0.1:5432 or Redis on 127.0.0.1:6379 did not come up" >&2
exit 1
