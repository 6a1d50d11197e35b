"""Raw first: every fetch is kept, byte for byte, before anything parses it.

``raw.fetches`` has one row per request made (its time, URL, parameters, status, any error), and
``raw.payload_bodies`` each distinct body once, by SHA-256. When PostgreSQL cannot be reached the
fetch goes to a spool file under ``MLBEDGE_HOME/spool`` instead, and is flushed (idempotently,
by its client-made id) when the database is back: nothing fetched is lost.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from mlbedge.sources.http import FetchResult, Request
from mlbedge.sources.snapshots import FetchMeta

log = logging.getLogger(__name__)


def content_hash(body: bytes) -> str:
    """The SHA-256 (hex) a body is stored under."""
    return hashlib.sha256(body).hexdigest()


def _parse_status(result: FetchResult) -> str:
    # Only a successful response with a body has anything to parse.
    return "pending" if result.ok and result.body is not None else "skipped"


def store_fetch(conn: psycopg.Connection, result: FetchResult) -> None:
    """Insert one fetch (and its body, once per content); a repeat of the same fetch id is a no-op."""
    digest = None
    if result.body is not None:
        digest = content_hash(result.body)
        conn.execute(
            "INSERT INTO raw.payload_bodies (content_hash, body, size_bytes) VALUES (%s, %s, %s) "
            "ON CONFLICT (content_hash) DO NOTHING",
            (digest, result.body, len(result.body)),
        )
    request = result.request
    conn.execute(
        """INSERT INTO raw.fetches (fetch_id, source, endpoint, url, params, context, fetched_at,
               http_status, content_hash, content_type, attempts, elapsed_ms, fetch_error, parse_status)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (fetch_id) DO NOTHING""",
        (
            result.fetch_id,
            request.source,
            request.endpoint,
            request.url,
            Jsonb(dict(request.params)),
            Jsonb(dict(request.context)),
            result.fetched_at,
            result.http_status,
            digest,
            result.content_type,
            result.attempts,
            result.elapsed_ms,
            result.error,
            _parse_status(result),
        ),
    )


@dataclass(frozen=True)
class StoredFetch:
    """A fetch read back from ``raw``: what the parsers see."""

    meta: FetchMeta
    http_status: int | None
    body: bytes | None


def load_fetches(conn: psycopg.Connection, fetch_ids: Sequence[uuid.UUID]) -> list[StoredFetch]:
    """The stored fetches with these ids, oldest first (bodies from ``raw.payload_bodies``)."""
    if not fetch_ids:
        return []
    rows = conn.execute(
        """SELECT f.fetch_id, f.source, f.endpoint, f.url, f.params, f.context, f.fetched_at,
                  f.http_status, b.body
           FROM raw.fetches f LEFT JOIN raw.payload_bodies b USING (content_hash)
           WHERE f.fetch_id = ANY(%s) ORDER BY f.fetched_at, f.fetch_id""",
        (list(fetch_ids),),
    ).fetchall()
    return [
        StoredFetch(
            FetchMeta(
                fetch_id=row[0],
                source=row[1],
                endpoint=row[2],
                url=row[3],
                params=row[4] or {},
                context=row[5] or {},
                fetched_at=row[6].astimezone(UTC),
            ),
            row[7],
            bytes(row[8]) if row[8] is not None else None,
        )
        for row in rows
    ]


def fetch_ids(
    conn: psycopg.Connection,
    *,
    pending_only: bool = False,
    since: datetime | None = None,
    sources: Sequence[str] | None = None,
) -> list[uuid.UUID]:
    """Ids of parseable fetches: the pending ones, or all with a body since ``since``."""
    clauses = ["content_hash IS NOT NULL", "http_status BETWEEN 200 AND 299"]
    params: list[Any] = []
    if pending_only:
        clauses.append("parse_status = 'pending'")
    if since is not None:
        clauses.append("fetched_at >= %s")
        params.append(since)
    if sources:
        clauses.append("source = ANY(%s)")
        params.append(list(sources))
    sql = f"SELECT fetch_id FROM raw.fetches WHERE {' AND '.join(clauses)} ORDER BY fetched_at, fetch_id"
    return [row[0] for row in conn.execute(sql, params).fetchall()]  # type: ignore[arg-type]


def mark_parsed(conn: psycopg.Connection, fetch_id: uuid.UUID, status: str, error: str | None) -> None:
    """Record how parsing a fetch went: parsed, partial (some items quarantined) or failed."""
    conn.execute(
        "UPDATE raw.fetches SET parse_status = %s, parse_error = %s, parsed_at = now() WHERE fetch_id = %s",
        (status, error, fetch_id),
    )


class Spool:
    """Fetches waiting for the database: one JSON file each under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, result: FetchResult) -> Path:
        """Write one fetch atomically (temp file, then rename) and return its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        request = result.request
        record = {
            "fetch_id": str(result.fetch_id),
            "source": request.source,
            "endpoint": request.endpoint,
            "url": request.url,
            "params": dict(request.params),
            "headers": dict(request.headers),
            "context": dict(request.context),
            "fetched_at": result.fetched_at.isoformat(),
            "http_status": result.http_status,
            "content_type": result.content_type,
            "attempts": result.attempts,
            "elapsed_ms": result.elapsed_ms,
            "error": result.error,
            "error_kind": result.error_kind,
            "body_b64": base64.b64encode(result.body).decode("ascii") if result.body is not None else None,
        }
        path = self.folder / f"{result.fetch_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
        return path

    def files(self) -> list[Path]:
        """Spooled fetches, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))

    def __len__(self) -> int:
        return len(self.files())

    @staticmethod
    def read(path: Path) -> FetchResult:
        """A spooled fetch back as a :class:`FetchResult`."""
        record = json.loads(path.read_text())
        request = Request(
            source=record["source"],
            endpoint=record["endpoint"],
            url=record["url"],
            params=record.get("params") or {},
            headers=record.get("headers") or {},
            context=record.get("context") or {},
        )
        body = record.get("body_b64")
        return FetchResult(
            request=request,
            fetched_at=datetime.fromisoformat(record["fetched_at"]),
            http_status=record.get("http_status"),
            body=base64.b64decode(body) if body is not None else None,
            content_type=record.get("content_type"),
            attempts=record.get("attempts", 1),
            elapsed_ms=record.get("elapsed_ms", 0),
            error=record.get("error"),
            error_kind=record.get("error_kind"),
            fetch_id=uuid.UUID(record["fetch_id"]),
        )

    def flush(self, conn: psycopg.Connection) -> list[uuid.UUID]:
        """Store every spooled fetch (commit per file, then delete it); return the ids stored."""
        stored = []
        for path in self.files():
            try:
                result = self.read(path)
            except (ValueError, KeyError, TypeError) as exc:
                # An unreadable file (a disk hiccup) must not block the rest of the spool.
                bad = self.folder / "unreadable"
                bad.mkdir(exist_ok=True)
                os.replace(path, bad / path.name)
                log.warning("spooled fetch %s is unreadable (%s); moved to %s", path.name, exc, bad)
                continue
            store_fetch(conn, result)
            conn.commit()
            path.unlink()
            stored.append(result.fetch_id)
        return stored
