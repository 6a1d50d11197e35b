"""Reads that survive a Redis outage: PostgreSQL's ``curated.game_features`` behind a ``degraded`` flag.

:class:`FallbackStore` wraps the Redis store. While Redis answers, it is a pass-through. When a
read finds Redis unreachable, that read (and every read for the next ``retry_seconds``) is served
from PostgreSQL with ``degraded=True``; after that pause a read tries Redis again, and the first
one that succeeds ends the degraded state. Nothing restarts: the Redis connection pool reconnects
by itself. Writes and deletes are never redirected: they raise, so a materialization run fails
loudly instead of writing to the wrong place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date

import polars as pl
import psycopg
from psycopg import sql

from mlbedge.store.base import (
    FeatureRow,
    ReadResult,
    StoreError,
    StoreHealth,
    StoreUnavailableError,
    WriteReport,
)
from mlbedge.store.codec import Layout
from mlbedge.store.redis_store import RedisStore

log = logging.getLogger(__name__)

_TABLE = ("curated", "game_features")


class PostgresFeatureReader:
    """Feature rows straight from ``curated.game_features`` (one autocommit connection, reopened
    when it breaks). Columns of the registry the table lacks read as null."""

    backend = "postgres"

    def __init__(self, url: str, layout: Layout | None = None) -> None:
        self.url = url
        self.layout = layout or Layout.from_registry()
        self._conn: psycopg.Connection | None = None
        self._select: sql.Composable | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url, autocommit=True)
            self._select = None
        return self._conn

    def _statement(self, conn: psycopg.Connection) -> sql.Composable:
        if self._select is None:
            present = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                    _TABLE,
                )
            }
            if not present:
                raise StoreError(
                    "postgres fallback: table curated.game_features does not exist (migrate first)"
                )
            features = [
                sql.Identifier(n) if n in present else sql.SQL("NULL AS {}").format(sql.Identifier(n))
                for n in self.layout.names
            ]
            self._select = sql.SQL(
                "SELECT game_id, date, as_of, feature_set_version, {} FROM curated.game_features "
            ).format(sql.SQL(", ").join(features))
        return self._select

    def _fetch(self, where: str, params: Sequence[object]) -> list[FeatureRow]:
        with self._lock:
            try:
                conn = self._connection()
                rows = conn.execute(self._statement(conn) + sql.SQL(where), params).fetchall()
            except psycopg.OperationalError as exc:
                raise StoreUnavailableError(f"postgres fallback at {_redact(self.url)}: {exc}") from exc
        names = self.layout.names
        return [
            FeatureRow(
                game_id=r[0],
                date=r[1],
                as_of=r[2].astimezone(UTC),
                feature_set_version=r[3],
                names=names,
                values=tuple(r[4:]),
            )
            for r in rows
        ]

    def read(self, game_ids: Sequence[str]) -> ReadResult:
        """The stored rows of ``game_ids`` (order kept)."""
        ids = list(dict.fromkeys(game_ids))
        found = {r.game_id: r for r in self._fetch("WHERE game_id = ANY(%s)", [ids])} if ids else {}
        return ReadResult(
            [found[g] for g in ids if g in found],
            [g for g in ids if g not in found],
            degraded=True,
            backend=self.backend,
        )

    def read_slate(self, day: date) -> ReadResult:
        """Every stored game of ``day``, in game id order."""
        return ReadResult(
            self._fetch("WHERE date = %s ORDER BY game_id", [day]), [], degraded=True, backend=self.backend
        )

    def health(self) -> StoreHealth:
        """A ``SELECT 1`` round trip; never raises."""
        started = time.perf_counter()
        try:
            with self._lock:
                self._connection().execute("SELECT 1")
        except psycopg.Error as exc:
            return StoreHealth(False, self.backend, None, degraded=True, detail=str(exc))
        return StoreHealth(True, self.backend, (time.perf_counter() - started) * 1000, degraded=True)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class FallbackStore:
    """The Redis store, with PostgreSQL reads while Redis is unreachable (see the module docstring)."""

    def __init__(
        self,
        primary: RedisStore,
        fallback: PostgresFeatureReader,
        *,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._down_until: float | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return self.primary.backend

    @property
    def degraded(self) -> bool:
        """True while Redis is considered down (reads are served from PostgreSQL)."""
        return self._down_until is not None

    def _serve(
        self, from_primary: Callable[[], ReadResult], from_fallback: Callable[[], ReadResult]
    ) -> ReadResult:
        down_until = self._down_until
        if down_until is not None and self._clock() < down_until:
            return from_fallback()
        try:
            result = from_primary()
        except StoreUnavailableError as exc:
            with self._lock:
                if self._down_until is None:
                    log.warning(
                        "online store %s unreachable, reading PostgreSQL (degraded): %s", self.backend, exc
                    )
                self._down_until = self._clock() + self.retry_seconds
            return from_fallback()
        if down_until is not None:
            with self._lock:
                self._down_until = None
            log.warning("online store %s reachable again: degraded mode over", self.backend)
        return result

    def read(self, game_ids: Sequence[str]) -> ReadResult:
        """Rows from Redis, or from PostgreSQL (``degraded=True``) while Redis is down."""
        return self._serve(lambda: self.primary.read(game_ids), lambda: self.fallback.read(game_ids))

    def read_slate(self, day: date) -> ReadResult:
        """A slate from Redis, or from PostgreSQL (``degraded=True``) while Redis is down."""
        return self._serve(lambda: self.primary.read_slate(day), lambda: self.fallback.read_slate(day))

    def write_batch(self, feature_set_version: str, rows: pl.DataFrame) -> WriteReport:
        """Writes go to Redis only (raises :class:`StoreUnavailableError` when it is down)."""
        return self.primary.write_batch(feature_set_version, rows)

    def delete(self, game_ids: Sequence[str]) -> int:
        """Deletes go to Redis only."""
        return self.primary.delete(game_ids)

    def health(self) -> StoreHealth:
        """Redis's health; when Redis is down, PostgreSQL's, flagged degraded. Never raises."""
        primary = self.primary.health()
        if primary.ok:
            return primary
        secondary = self.fallback.health()
        detail = f"{self.backend} unreachable ({primary.detail}); serving from postgres"
        return StoreHealth(
            secondary.ok, secondary.backend, secondary.latency_ms, degraded=True, detail=detail
        )

    def close(self) -> None:
        """Close both backends."""
        self.primary.close()
        self.fallback.close()


def _redact(url: str) -> str:
    """A URL without its password, for error messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
