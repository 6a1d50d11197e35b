"""Reads that survive a Redis outage or an emptied Redis: PostgreSQL's ``curated.game_features``
behind a ``degraded`` flag.

:class:`FallbackStore` wraps the Redis store. While Redis answers, it is a pass-through. When a
read finds Redis unreachable, that read (and every read for the next ``retry_seconds``) is served
from PostgreSQL with ``degraded=True``; after that pause a read tries Redis again, and the first
one that succeeds ends the degraded state. Nothing restarts: the Redis connection pool reconnects
by itself. Writes and deletes are never redirected: they raise, so a materialization run fails
loudly instead of writing to the wrong place.

A Redis that answers but has lost games (restarted empty, evicted, failed over to an empty
replica) is covered too: the games it misses are read from PostgreSQL (``from_fallback`` in the
result names them), and their dates are re-materialized into Redis in a background thread, at
most once per date every ``refill_cooldown_seconds``, so the store fills itself again without a
restart or an operator.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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

    def feature_dates(self, since: date | None = None) -> list[date]:
        """The dates with stored features (from ``since`` on; all of them without it), sorted."""
        where = "" if since is None else "WHERE date >= %s "
        with self._lock:
            try:
                rows = (
                    self._connection()
                    .execute(
                        f"SELECT DISTINCT date FROM curated.game_features {where}ORDER BY date",
                        [] if since is None else [since],
                    )
                    .fetchall()
                )
            except psycopg.Error as exc:
                raise StoreUnavailableError(f"postgres fallback at {_redact(self.url)}: {exc}") from exc
        return [r[0] for r in rows]

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
        refill: bool = True,
        refill_cooldown_seconds: float = 30.0,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.retry_seconds = retry_seconds
        self.refill = refill
        self.refill_cooldown_seconds = refill_cooldown_seconds
        self._clock = clock
        self._down_until: float | None = None
        self._lock = threading.Lock()
        self._refilled_at: dict[date, float] = {}
        self._refills: ThreadPoolExecutor | None = None
        self.refills_done = 0

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
        """Rows from Redis, or from PostgreSQL (``degraded=True``) while Redis is down; games
        Redis misses are read from PostgreSQL and their dates refilled in the background."""
        result = self._serve(lambda: self.primary.read(game_ids), lambda: self.fallback.read(game_ids))
        if not result.missing or result.backend == "postgres":
            return result
        try:
            extra = self.fallback.read(result.missing)
        except StoreError as exc:
            log.warning(
                "online store misses %d games; PostgreSQL cannot fill them: %s", len(result.missing), exc
            )
            return result
        if not extra.rows:
            return result
        self._schedule_refill({r.date for r in extra.rows})
        found = {**result.by_id(), **extra.by_id()}
        ids = list(dict.fromkeys(game_ids))
        return ReadResult(
            [found[g] for g in ids if g in found],
            [g for g in ids if g not in found],
            degraded=True,
            backend=result.backend,
            from_fallback=frozenset(r.game_id for r in extra.rows),
        )

    def read_slate(self, day: date) -> ReadResult:
        """A slate from Redis, or from PostgreSQL (``degraded=True``) while Redis is down or has
        no slate for ``day`` that PostgreSQL has (then the slate is refilled in the background)."""
        result = self._serve(lambda: self.primary.read_slate(day), lambda: self.fallback.read_slate(day))
        if result.rows or result.backend == "postgres":
            return result
        try:
            stored = self.fallback.read_slate(day)
        except StoreError as exc:
            log.warning("online store has no slate %s; PostgreSQL cannot fill it: %s", day, exc)
            return result
        if stored.rows:
            self._schedule_refill({day})
        return stored

    def _schedule_refill(self, days: set[date]) -> None:
        """Re-materialize ``days`` from PostgreSQL into Redis in the background (once per
        cooldown per date, one refill at a time)."""
        if not self.refill:
            return
        now = self._clock()
        with self._lock:
            due = sorted(
                d
                for d in days
                if now - self._refilled_at.get(d, -self.refill_cooldown_seconds - 1)
                > self.refill_cooldown_seconds
            )
            if not due:
                return
            for d in due:
                self._refilled_at[d] = now
            if self._refills is None:
                self._refills = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-refill")
            executor = self._refills
        log.warning(
            "online store misses slates %s: re-materializing them from PostgreSQL",
            [d.isoformat() for d in due],
        )
        executor.submit(self._refill, due)

    def _refill(self, days: list[date]) -> None:
        from mlbedge.store.materialize import materialize

        try:
            with psycopg.connect(self.fallback.url, connect_timeout=5) as conn:
                report = materialize(conn, self.primary, dates=days)
        except (psycopg.Error, StoreError, LookupError) as exc:
            log.warning("re-materializing %s failed: %s", [d.isoformat() for d in days], exc)
            with self._lock:
                for d in days:
                    self._refilled_at.pop(d, None)  # the next miss tries again
            return
        with self._lock:
            self.refills_done += 1
        log.warning("online store refilled: %d games on %d dates", report.games, report.dates)

    def wait_for_refills(self, timeout: float = 30.0) -> None:
        """Block until the refills scheduled so far are done (for shutdown and tests)."""
        with self._lock:
            executor = self._refills
        if executor is not None:
            executor.submit(lambda: None).result(timeout=timeout)

    def write_batch(self, feature_set_version: str, rows: pl.DataFrame) -> WriteReport:
        """Writes go to Redis only (raises :class:`StoreUnavailableError` when it is down)."""
        return self.primary.write_batch(feature_set_version, rows)

    def delete(self, game_ids: Sequence[str]) -> int:
        """Deletes go to Redis only."""
        return self.primary.delete(game_ids)

    def coverage(self, today: date) -> StoreHealth:
        """Whether Redis holds what PostgreSQL has: not ok when it is **empty** (no slate at all
        while PostgreSQL has features) or **stale** (a date from ``today`` on with features in
        PostgreSQL has no slate in Redis). Never raises; an unreachable Redis is ``health``'s."""
        try:
            slates = set(self.primary.slate_dates())
            if not slates:
                stored = self.fallback.feature_dates()
                if stored:
                    return StoreHealth(
                        False, self.backend, None, degraded=True,
                        detail=f"online store empty: PostgreSQL holds features of {len(stored)} dates "
                        f"({stored[0]}..{stored[-1]}); reads are served from PostgreSQL and refill it",
                    )  # fmt: skip
                return StoreHealth(True, self.backend, None, detail="empty, as PostgreSQL")
            upcoming = [d for d in self.fallback.feature_dates(since=today) if d not in slates]
        except StoreError as exc:
            return StoreHealth(False, self.backend, None, detail=f"coverage unknown: {exc}")
        if upcoming:
            return StoreHealth(
                False, self.backend, None, degraded=True,
                detail=f"online store stale: no slate for {', '.join(d.isoformat() for d in upcoming[:5])}"
                f"{' ...' if len(upcoming) > 5 else ''} (features in PostgreSQL); reads refill it",
            )  # fmt: skip
        return StoreHealth(True, self.backend, None, detail=f"{len(slates)} slates")

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
        """Stop refilling, then close both backends."""
        with self._lock:
            executor, self._refills = self._refills, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
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
