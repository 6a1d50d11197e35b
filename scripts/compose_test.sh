#!/usr/bin/env bash
# `make compose-test`: docker/compose.yaml run for real, end to end, on podman.
#
# Builds the images, starts the stack (PostgreSQL, Redis, the MLflow server, the API, the worker)
# and drives it through the app container's CLI and over HTTP:
#   migrate (the API migrates on start; the migrations table is checked) → load one season (SBRO
#   and Pinnacle 2016) → build features → train (registered in the MLflow server) → materialize a
#   date → reload the API's champions → predict every game of the date over HTTP from Redis →
#   stop Redis: every game still 200, from PostgreSQL, the source named → start Redis: answers
#   come from Redis again → down -v.
# Any failure names its step and exits non-zero; the stack is always taken down.
#
# Here there is no Docker engine and no image registry (only Debian's and PyPI's packages), so:
#   - podman (Debian package) runs the containers; docker-compose (Debian package, the same tool
#     the compose tests validate the file with) drives them through podman's Docker-compatible
#     API socket, which this script starts for the run. docker-compose honours
#     `depends_on: condition: service_healthy`; podman-compose 1.0 (bookworm) ignores it.
#   - podman has no systemd here to time the health checks, so this script runs
#     `podman healthcheck run` on the project's containers every few seconds.
#   - the images that normally come from a registry are built from Debian packages: a base made by
#     debootstrap (bookworm, minbase) and `podman import`, kept between runs, then Python,
#     PostgreSQL and Redis images FROM it (docker/local/), and the mlbedge image from
#     docker/Dockerfile with PYTHON_BASE pointing at the local Python image.
#   - podman's own settings for this machine are in a containers.conf written for the run
#     (CONTAINERS_CONF): runc (crun refuses the hybrid cgroup layout), low ulimits; builds use the
#     host's network to reach the package registries.
#
# Settings (environment):
#   MLBEDGE_DATA_DIR           historical files, mounted read-only at /data (default ../shared/data/mlb)
#   MLBEDGE_COMPOSE_TEST_DIR   podman socket, logs and run files (default /var/tmp/mlbedge-compose-test)
#   MLBEDGE_COMPOSE_REBUILD_BASE=1   rebuild the debootstrap base even when it exists
#   MLBEDGE_COMPOSE_KEEP=1     leave the stack up after the run (for a look; `down -v` by hand)
#   DEBIAN_MIRROR              where debootstrap fetches from (default http://deb.debian.org/debian)
set -Eeuo pipefail

cd "$(dirname "$0")/.."
source scripts/packages.sh
REPO=$PWD
STARTED=$(date +%s)

SEASON=2016
DAY=2016-08-02 # Pinnacle start times and time-stamped lines: a full slate
DATA_DIR=${MLBEDGE_DATA_DIR:-$REPO/../shared/data/mlb}
WORK=${MLBEDGE_COMPOSE_TEST_DIR:-/var/tmp/mlbedge-compose-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Local images: named for what they are, never with an official image's name.
BASE_IMAGE=localhost/mlbedge-base:bookworm
PYTHON_IMAGE=localhost/mlbedge-local-python:3.11-bookworm
POSTGRES_IMAGE=localhost/mlbedge-local-postgres:15-bookworm
REDIS_IMAGE=localhost/mlbedge-local-redis:7.0-bookworm
APP_TAG=compose-test # the app image is mlbedge:$APP_TAG (compose.yaml's name)

STEP="start"
RUN=""
PROJECT=""
SERVICE_PID=""
HEALTH_PID=""

log() { printf '\ncompose-test [%4ds] %s\n' "$(($(date +%s) - STARTED))" "$*"; }
die() {
    echo "compose-test: FAILED at step '$STEP': $*" >&2
    exit 1
}
step() {
    STEP=$1
    log "== $STEP"
}


# ---------------------------------------------------------------------------------------------
# cleanup: always runs; takes the stack down, stops the helpers this script started.

compose() { # SECONDS ARGS...: docker-compose on the run's project, bounded in time
    # A clean environment: only the run's env file decides what compose.yaml interpolates (a
    # docker/.env of the user's or exported MLBEDGE_* variables must not leak in).
    local seconds=$1
    shift
    timeout "$seconds" env -i PATH="$PATH" HOME="${HOME:-/root}" DOCKER_HOST="unix://$RUN/podman.sock" \
        COMPOSE_HTTP_TIMEOUT=300 \
        docker-compose --project-name "$PROJECT" --project-directory "$REPO/docker" \
        --env-file "$RUN/compose.env" -f "$REPO/docker/compose.yaml" -f "$REPO/docker/compose.test.yaml" "$@"
}

cleanup() {
    local status=$?
    trap - EXIT ERR INT TERM
    if [ "$status" -ne 0 ] && [ "$STEP" != "start" ]; then
        echo "compose-test: FAILED at step '$STEP' (exit $status)" >&2
        if [ -n "$PROJECT" ] && [ -S "$RUN/podman.sock" ]; then
            echo "compose-test: last log lines of each service:" >&2
            compose 60 logs --no-color --tail 40 >&2 2>&1 || true
        fi
    fi
    if [ -n "$PROJECT" ] && [ -S "$RUN/podman.sock" ]; then
        if [ "${MLBEDGE_COMPOSE_KEEP:-0}" = 1 ]; then
            log "stack left up (MLBEDGE_COMPOSE_KEEP=1): project $PROJECT, socket $RUN/podman.sock"
        else
            log "down -v"
            compose 180 down -v --remove-orphans >"$RUN/down.log" 2>&1 ||
                echo "compose-test: docker-compose down failed, see $RUN/down.log" >&2
        fi
    fi
    if [ -n "$HEALTH_PID" ]; then kill "$HEALTH_PID" 2>/dev/null || true; fi
    if [ -n "$SERVICE_PID" ] && [ "${MLBEDGE_COMPOSE_KEEP:-0}" != 1 ]; then
        kill "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
    fi
    if [ "$status" -eq 0 ]; then
        log "compose-test passed in $(($(date +%s) - STARTED)) s (logs in $RUN)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
step "prerequisites"

if [ ! -d "$DATA_DIR/sbr" ] || [ ! -d "$DATA_DIR/pinnacle_2016" ]; then
    die "no historical data at $DATA_DIR (sbr/, pinnacle_2016/): set MLBEDGE_DATA_DIR"
fi
DATA_DIR=$(cd "$DATA_DIR" && pwd)
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v python3 >/dev/null || need+=(python3)
install_packages compose-test "${need[@]}" || die "could not install ${need[*]}"
[ "$(id -u)" -eq 0 ] || die "podman runs rootful here (debootstrap and the socket need root): run as root"

mkdir -p "$WORK"
# The logs of the last few runs are kept; older run folders go.
find "$WORK" -maxdepth 1 -name 'run.*' -type d -printf '%T@ %p\n' | sort -rn | tail -n +6 | cut -d' ' -f2- |
    while read -r old; do rm -rf "$old"; done
RUN=$(mktemp -d "$WORK/run.XXXXXX")
cat >"$RUN/containers.conf" <<'EOF'
# Written by scripts/compose_test.sh for its podman: only this file is read (CONTAINERS_CONF).
[containers]
# The host's limits are higher than some programs in the images expect.
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
# crun refuses this machine's hybrid cgroup (v1 + v2) layout; runc works.
runtime = "runc"
# The API service keeps an exec session's conmon this long after it ends (default 300 s):
# docker-compose reads the exit code at once, so the run leaves no lingering processes.
exit_command_delay = 15
EOF
export CONTAINERS_CONF=$RUN/containers.conf
BUILD=(podman build --network host --pull=never --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

# ---------------------------------------------------------------------------------------------
step "base image (debootstrap)"

if [ "${MLBEDGE_COMPOSE_REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
    root=$(mktemp -d "$WORK/rootfs.XXXXXX")
    started=$(date +%s)
    timeout 900 debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$RUN/debootstrap.log" 2>&1 ||
        { rm -rf "$root"; die "debootstrap failed, see $RUN/debootstrap.log"; }
    # As Debian's official images: updates and security suites, no services started by package
    # installs, no downloaded packages or lists kept.
    cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | timeout 300 podman import \
        --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
        --message "debootstrap --variant=minbase bookworm $MIRROR" - "$BASE_IMAGE" >"$RUN/import.log" 2>&1 ||
        { rm -rf "$root"; die "podman import failed, see $RUN/import.log"; }
    rm -rf "$root"
    log "base image built in $(($(date +%s) - started)) s"
else
    log "base image $BASE_IMAGE cached ($(podman image inspect --format '{{.Created}}' "$BASE_IMAGE"))"
fi

# ---------------------------------------------------------------------------------------------
step "images"

build() {
    local name=$1
    shift
    local started
    started=$(date +%s)
    timeout 1200 "${BUILD[@]}" "$@" >"$RUN/build-$name.log" 2>&1 ||
        die "building the $name image failed, see $RUN/build-$name.log (last lines below)
$(tail -n 20 "$RUN/build-$name.log")"
    log "image $name built in $(($(date +%s) - started)) s"
}
# The Python image trusts the certificate authorities this host added to Debian's (a TLS-inspecting
# proxy's, say): its pip reaches PyPI through the same network.
mkdir -p "$RUN/python-context/ca-certificates"
find /usr/local/share/ca-certificates -maxdepth 1 -name '*.crt' -exec cp {} "$RUN/python-context/ca-certificates/" \; 2>/dev/null || true
build python --build-arg BASE="$BASE_IMAGE" -t "$PYTHON_IMAGE" -f docker/local/python.Dockerfile "$RUN/python-context"
build postgres --build-arg BASE="$BASE_IMAGE" -t "$POSTGRES_IMAGE" -f docker/local/postgres.Dockerfile docker/local
build redis --build-arg BASE="$BASE_IMAGE" -t "$REDIS_IMAGE" -f docker/local/redis.Dockerfile docker/local
build mlbedge --build-arg PYTHON_BASE="$PYTHON_IMAGE" -t "localhost/mlbedge:$APP_TAG" \
    -f docker/Dockerfile --ignorefile docker/Dockerfile.dockerignore .

# ---------------------------------------------------------------------------------------------
step "podman API socket"

podman system service --time=0 "unix://$RUN/podman.sock" >"$RUN/podman-service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 30); do
    [ -S "$RUN/podman.sock" ] && break
    sleep 1
done
[ -S "$RUN/podman.sock" ] || die "podman system service did not open $RUN/podman.sock"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PROJECT="mlbedgect$(date +%s)$$"
API_PORT=$(free_port)
MLFLOW_PORT=$(free_port)
ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
cat >"$RUN/compose.env" <<EOF
POSTGRES_USER=mlbedge
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
POSTGRES_DB=mlbedge
MLBEDGE_ADMIN_TOKEN=$ADMIN_TOKEN
MLBEDGE_API_PORT=$API_PORT
MLFLOW_PORT=$MLFLOW_PORT
MLBEDGE_IMAGE_TAG=$APP_TAG
MLBEDGE_PYTHON_BASE=$PYTHON_IMAGE
MLBEDGE_POSTGRES_IMAGE=$POSTGRES_IMAGE
MLBEDGE_REDIS_IMAGE=$REDIS_IMAGE
MLBEDGE_COMPOSE_DATA_DIR=$DATA_DIR
EOF
API=http://127.0.0.1:$API_PORT

# podman has no systemd timer here to run the health checks compose waits on: run them, each
# container's at its own interval (a failure counts towards its retries as under Docker).
health_loop() {
    declare -A due=()
    local id now interval
    while :; do
        now=$(date +%s)
        for id in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
            [ "${due[$id]:-0}" -le "$now" ] || continue
            interval=$(podman inspect --format '{{.Config.Healthcheck.Interval.Seconds}}' "$id" 2>/dev/null || echo 0)
            interval=${interval%.*}
            [ "${interval:-0}" -gt 0 ] || interval=30
            due[$id]=$((now + interval))
            podman healthcheck run "$id" >/dev/null 2>&1 || true
        done
        sleep 1
    done
}
health_loop &
HEALTH_PID=$!

# ---------------------------------------------------------------------------------------------
step "compose up"

compose 600 up -d --no-build >"$RUN/up.log" 2>&1 ||
    die "docker-compose up failed or timed out, see $RUN/up.log
$(tail -n 20 "$RUN/up.log")"
compose 60 ps

wait_healthy() { # SERVICE SECONDS: its container's health check passes
    local id health=""
    id=$(compose 60 ps -q "$1")
    for _ in $(seq 1 "$2"); do
        health=$(podman inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null || true)
        [ "$health" = healthy ] && { log "$1 healthy"; return 0; }
        sleep 1
    done
    die "$1 not healthy after $2 s (health: ${health:-none})"
}
check() { python3 "$REPO/scripts/compose_checks.py" --api "$API" "$@"; }
app() { compose "$1" exec -T api mlbedge "${@:2}"; }

# ---------------------------------------------------------------------------------------------
step "migrate"

check health --within 120
migrations=$(find src/mlbedge/storage/migrations -name '*.sql' | wc -l)
applied=$(compose 60 exec -T postgres sh -c \
    'psql -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT count(*) FROM public.mlbedge_schema_migrations"')
log "migrations applied: $applied of $migrations"
[ "$applied" -eq "$migrations" ] || die "the API applied $applied of $migrations migrations"

# ---------------------------------------------------------------------------------------------
step "load season $SEASON"

app 600 data load sbro "/data/sbr/mlb_odds_sbr_$SEASON.csv"
app 600 data load pinnacle /data/pinnacle_2016/pinnacle_mlb2016_games.csv \
    /data/pinnacle_2016/pinnacle_mlb2016_lines.csv.gz

step "features build"
app 900 features build --seasons "$SEASON"

step "train"
app 900 train --train-seasons "$SEASON" --promote

step "materialize $DAY"
app 300 features materialize --date "$DAY"

# ---------------------------------------------------------------------------------------------
step "predict over HTTP"

check reload --token "$ADMIN_TOKEN"
check predict --date "$DAY" --source online_store --within 60

step "Redis stopped: degraded answers from PostgreSQL"
compose 120 stop redis
check predict --date "$DAY" --source postgres --within 60

step "Redis started: answers from Redis again"
compose 120 start redis
check predict --date "$DAY" --source online_store --within 120

step "worker"
# The worker's scheduler is up and reaches its database (its health check runs every 30 s).
wait_healthy worker 120

step "done"
