#!/bin/sh
# The parts of the official redis image's entrypoint that docker/compose.yaml relies on.
set -e
# `docker run IMAGE --appendonly yes` means redis-server with those options.
if [ "${1#-}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
    # Without a config file Redis 7 refuses clients from other hosts (protected mode); the other
    # containers are such clients. The official image turns it off the same way.
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis:redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
