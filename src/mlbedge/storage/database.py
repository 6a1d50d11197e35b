"""Connections to PostgreSQL. One code path: only where the server comes from differs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
import psycopg

from mlbedge.settings import Settings, get_settings
from mlbedge.storage.embedded import embedded_postgres_url


def database_url(settings: Settings | None = None) -> str:
    """The configured database URL, starting the embedded PostgreSQL when none is set."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return embedded_postgres_url(settings.home)


@contextmanager
def connect(settings: Settings | None = None, *, migrate: bool = True) -> Iterator[psycopg.Connection]:
    """A connection to the configured database, with the schema migrated to the latest version.

    Commits when the block ends without error, rolls back otherwise.
    """
    from mlbedge.storage.migrations import migrate as apply_migrations

    url = database_url(settings)
    with psycopg.connect(url, autocommit=False) as conn:
        if migrate:
            apply_migrations(conn)
        yield conn


def fetch_frame(
    conn: psycopg.Connection, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run a query and return its rows as a Polars frame (column names from the cursor)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        if cur.description is None:
            return pl.DataFrame()
        columns = [col.name for col in cur.description]
        rows = cur.fetchall()
    if not rows:
        return pl.DataFrame({name: [] for name in columns})
    return pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)
