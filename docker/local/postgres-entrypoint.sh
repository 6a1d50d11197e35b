#!/bin/bash
# The parts of the official postgres image's entrypoint that docker/compose.yaml relies on: a
# cluster made on the first start from POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB, the init
# scripts run once, then the server in the foreground on every address.
set -Eeuo pipefail

# `docker run IMAGE -c name=value` means postgres with those options.
if [ "${1:0:1}" = - ]; then
    set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set for a new database}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256
    rm -f "$pwfile"
    # Other containers reach it over the compose network, with the password.
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    # A private server for the init scripts: no TCP, so a health check sees no server until the
    # real one starts.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start
    psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$user")
    if [ "$db" != postgres ]; then
        "${psql[@]}" --dbname postgres --set db="$db" <<<'CREATE DATABASE :"db";'
    fi
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) echo "init: running $f"; "${psql[@]}" --dbname "$db" -f "$f" ;;
            *.sh) echo "init: sourcing $f"; . "$f" ;;
            *) echo "init: ignoring $f" ;;
        esac
    done
    shopt -u nullglob
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "init: done"
fi
exec "$@"
