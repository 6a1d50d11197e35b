"""The embedded default: a real PostgreSQL from the ``pgserver`` package, kept under MLBEDGE_HOME."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def embedded_postgres_url(home: Path, database: str = "mlbedge") -> str:
    """Start (or reuse) the embedded PostgreSQL under ``home/postgres`` and return a URL to it.

    The server outlives nothing: it is stopped at interpreter exit or by
    :func:`stop_embedded_postgres`. The data folder persists between runs.
    """
    import pgserver  # imported lazily: only the embedded default needs it

    pgdata = (home / "postgres").resolve()
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            pgdata.mkdir(parents=True, exist_ok=True)
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
            _servers[pgdata] = server
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        # pgserver hands out a socket URL for the "postgres" database; point it at ours.
        base, _, query = server.get_uri().partition("?")
        return f"{base.rsplit('/', 1)[0]}/{database}?{query}"


def stop_embedded_postgres(home: Path | None = None) -> None:
    """Stop the embedded server for ``home`` (or every one this process started)."""
    with _lock:
        keys = [(home / "postgres").resolve()] if home else list(_servers)
        for key in keys:
            server = _servers.pop(key, None)
            if server is not None:
                server.cleanup()
