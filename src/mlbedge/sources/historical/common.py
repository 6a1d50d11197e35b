"""What every historical loader shares: raw file capture, per-row decoding, quarantine, one
transaction per file and the load summary.

A load never loses good data to bad data beside it:

- **per row**: every line is decoded on its own (:func:`decode_lines`), so one invalid byte or a
  NUL byte costs its own row (quarantined with the reason), not the file;
- **per file**: :func:`load_each` runs each file in its own transaction; a file that cannot be
  read (missing, empty, not the format, a gzip stream cut short before any row) is reported in
  its :class:`LoadSummary` and the other files load;
- **per version**: a newer version of a file (same source and file name, other content)
  replaces the rows the older one wrote (:func:`write_parsed`), so a corrected file leaves no
  phantom rows behind;
- **one load at a time**: :func:`load_lock` serialises loads across processes with a PostgreSQL
  advisory lock, so two loads of the same files in different orders wait instead of deadlocking.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl
import psycopg
from psycopg import pq, sql
from pydantic import BaseModel, Field
from rich.progress import Progress

from mlbedge.storage.bulk import upsert_frame


class DataFileError(ValueError):
    """A file that cannot be loaded at all (wrong format, missing columns). Names file and row."""

    def __init__(self, file: str | Path, message: str, row: int | None = None) -> None:
        where = f"{file}" if row is None else f"{file}, row {row}"
        super().__init__(f"{where}: {message}")
        self.file = str(file)
        self.row = row


@dataclass(frozen=True)
class RawFile:
    """A file as received: its bytes and their SHA-256."""

    path: Path
    content: bytes

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @classmethod
    def read(cls, path: str | Path) -> RawFile:
        """The file's bytes; :class:`DataFileError` when it is missing, unreadable or empty."""
        path = Path(path)
        if not path.is_file():
            raise DataFileError(path, "no such file")
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise DataFileError(path, f"cannot read the file: {exc.strerror or exc}") from exc
        if not content:
            raise DataFileError(path, "empty file (0 bytes)")
        return cls(path=path, content=content)


# A year in a file name (mlb_odds_sbr_2019.csv, GL2019.TXT, pinnacle_mlb2016_games.csv).
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


def season_in_name(name: str) -> int | None:
    """The season a file name carries (``GL2019.TXT`` -> 2019), or None when it names none."""
    match = _YEAR_IN_NAME.search(name)
    return int(match.group(1)) if match else None


def outside_season(date: pl.Expr, season: int | None) -> pl.Expr:
    """True where ``date`` is not in ``season``'s calendar year (never true without a season).

    A season's games, postseason included, all fall inside its calendar year, so a date in
    another year is a corrupted value (a flipped byte making 2019 into 2819), not a game.
    """
    if season is None:
        return pl.lit(False)
    return (date.dt.year() != season).fill_null(False)


def decompressed(raw: RawFile) -> tuple[bytes, str | None]:
    """The file's content, gunzipped when it is a gzip stream, and a note when it is cut short.

    A stream cut short or corrupt part way keeps every complete line before the damage (the
    partial last line is dropped) and says so in the note; a stream that yields nothing raises
    :class:`DataFileError`. Plain files come back as they are, with no note.
    """
    content = raw.content
    if content[:2] != b"\x1f\x8b":  # not gzip
        return content, None
    out: list[bytes] = []
    note: str | None = None
    data = content
    try:
        # A gzip file may hold several members one after another; each gets its own decoder.
        while data:
            decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            for start in range(0, len(data), 1 << 20):
                out.append(decoder.decompress(data[start : start + (1 << 20)]))
                if decoder.eof:
                    break
            if not decoder.eof:
                note = f"gzip stream cut short ({len(content):,} bytes)"
                break
            data = decoder.unused_data
    except zlib.error as exc:
        note = f"broken gzip stream: {exc}"
    text = b"".join(out)
    if note is None:
        return text, None
    cut = text.rfind(b"\n")
    if cut < 0:
        raise DataFileError(raw.path, f"{note}: no complete row before the damage")
    return text[: cut + 1], f"{note}: only the rows before the cut were read"


NUL_REASON = "NUL byte in the row"


def decode_lines(content: bytes, *, fallback: str | None) -> pl.DataFrame:
    """Split text bytes into lines, decoding each line on its own.

    Returns ``line_number`` (1-based), ``raw_row`` (the line's text, never holding a NUL) and
    ``line_reason`` (null for a good line). A line that is not UTF-8 is decoded with ``fallback``
    (e.g. ``cp1252`` for spreadsheet exports, whose ½ is the single byte 0xBD), or, without one,
    quarantined as not UTF-8. Decoding per line means one stray byte never turns the rest of a
    UTF-8 file into mojibake. A line holding a NUL byte (which PostgreSQL text cannot store) is
    quarantined. CRLF, CR and LF all end a line; a leading byte-order mark is dropped.
    """
    try:
        lines = content.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        reasons: list[str | None] | None = None
    except UnicodeDecodeError:
        # The rare path: only a file with an invalid byte pays for decoding line by line.
        if content.startswith(b"\xef\xbb\xbf"):
            content = content[3:]
        lines, reasons = [], []
        for line in content.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
            text, reason = _decode_line(line, fallback)
            lines.append(text)
            reasons.append(reason)
    frame = pl.DataFrame(
        {"raw_row": lines, "line_reason": reasons if reasons is not None else [None] * len(lines)},
        schema={"raw_row": pl.String, "line_reason": pl.String},
    ).with_row_index("line_number", offset=1)
    has_nul = pl.col("raw_row").str.contains("\x00", literal=True)
    return frame.select(
        pl.col("line_number").cast(pl.Int32),
        pl.col("raw_row").str.replace_all("\x00", "\\x00", literal=True),
        pl.when(has_nul).then(pl.lit(NUL_REASON)).otherwise(pl.col("line_reason")).alias("line_reason"),
    )


def _decode_line(line: bytes, fallback: str | None) -> tuple[str, str | None]:
    try:
        return line.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        if fallback is not None:
            return line.decode(fallback, errors="replace"), None
        return line.decode("utf-8", errors="replace"), f"not UTF-8 text (byte {exc.start + 1} of the row)"


def store_raw_file(conn: psycopg.Connection, source: str, raw: RawFile) -> None:
    """Keep the file's bytes in ``raw.files`` before anything is parsed (stored once per content)."""
    conn.execute(
        "INSERT INTO raw.files (sha256, source, file_name, size_bytes, content) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING",
        (raw.sha256, source, raw.name, len(raw.content), raw.content),
    )


@dataclass
class Quarantine:
    """Rows of one file that failed to parse, each with its row number and the reason."""

    source: str
    raw: RawFile
    rows: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, row_number: int, reason: str, raw_row: str) -> None:
        self.rows.append((row_number, reason, raw_row))

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Add rows from a frame with columns ``row_number``, ``reason``, ``raw_row``."""
        self.rows.extend(frame.select("row_number", "reason", "raw_row").iter_rows())

    def __len__(self) -> int:
        return len(self.rows)

    def write(self, conn: psycopg.Connection) -> int:
        """Store the quarantined rows; re-loading the same file adds nothing."""
        if not self.rows:
            return 0
        frame = (
            pl.DataFrame(
                self.rows,
                schema={"row_number": pl.Int32, "reason": pl.String, "raw_row": pl.String},
                orient="row",
            )
            .with_columns(
                # PostgreSQL text cannot hold NUL: show it escaped.
                pl.col("raw_row").str.replace_all("\x00", "\\x00", literal=True),
                source=pl.lit(self.source),
                file_sha256=pl.lit(self.raw.sha256),
                file_name=pl.lit(self.raw.name),
            )
            .unique(subset=["row_number", "reason"], keep="first")
        )
        return upsert_frame(
            conn,
            "staging.quarantine",
            frame,
            key=["source", "file_sha256", "row_number", "reason"],
            update=False,
        )


class LoadSummary(BaseModel):
    """What one load did, printed by the CLI and returned to callers."""

    source: str
    file_name: str
    rows_read: int = 0
    records: int = Field(0, description="Parsed records (games, snapshots) in the file.")
    written: int = Field(0, description="Records inserted or changed; 0 on a repeat load.")
    quarantined: int = 0
    flags: dict[str, int] = Field(default_factory=dict, description="Count of rows per flag.")
    error: str | None = Field(
        None, description="Why the file was not (fully) loaded; None when it loaded whole."
    )

    @property
    def status(self) -> Literal["loaded", "partial", "failed"]:
        """``loaded``; ``partial`` (some rows kept, e.g. a gzip cut short); ``failed`` (none kept)."""
        if self.error is None:
            return "loaded"
        return "partial" if self.records else "failed"


def flag_counts(frame: pl.DataFrame, order: Sequence[str] = ()) -> dict[str, int]:
    """How many rows carry each flag of the comma-separated ``flags`` column, in ``order``.

    Flags no row carries are left out; flags not named in ``order`` come last.
    """
    if frame.is_empty() or "flags" not in frame.columns:
        return {}
    split = frame.select(pl.col("flags").str.split(",").explode().alias("flag")).filter(pl.col("flag") != "")
    counts = dict(split.group_by("flag").len().iter_rows())
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def write_parsed(
    conn: psycopg.Connection,
    source: str,
    raw: RawFile,
    *,
    table: str,
    frame: pl.DataFrame,
    key: Sequence[str],
    quarantined: pl.DataFrame,
    rows_read: int,
    flag_order: Sequence[str] = (),
) -> LoadSummary:
    """Upsert one file's parsed records, quarantine its bad rows and summarise the load.

    Rows written by an older version of the same file (same source and file name, other
    content) are deleted first, together with that version's quarantined rows: the newer file
    is the whole truth about what the file holds. Tables with a ``file_sha256`` column get it
    filled from ``raw`` when the frame lacks it.
    """
    has_sha = _has_file_sha256(conn, table)
    if has_sha and "file_sha256" not in frame.columns:
        frame = frame.with_columns(file_sha256=pl.lit(raw.sha256))
    replace_older_versions(conn, source, raw, table if has_sha else None)
    written = upsert_frame(conn, table, frame, key=key)
    quarantine = Quarantine(source, raw)
    quarantine.add_frame(quarantined)
    quarantine.write(conn)
    return LoadSummary(
        source=source,
        file_name=raw.name,
        rows_read=rows_read,
        records=frame.height,
        written=written,
        quarantined=len(quarantine),
        flags=flag_counts(frame, flag_order),
    )


def _has_file_sha256(conn: psycopg.Connection, table: str) -> bool:
    schema_name, _, table_name = table.partition(".")
    row = conn.execute(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = 'file_sha256'",
        (schema_name, table_name),
    ).fetchone()
    return row is not None


def replace_older_versions(conn: psycopg.Connection, source: str, raw: RawFile, table: str | None) -> int:
    """Delete what older versions of ``raw`` (same source and name, other bytes) left behind.

    Their rows in ``table`` (when given; it must have ``file_sha256``) and their quarantined
    rows go; returns the number of ``table`` rows deleted.
    """
    older = (
        "SELECT sha256 FROM raw.files WHERE source = %(source)s AND file_name = %(name)s "
        "AND sha256 <> %(sha)s"
    )
    params = {"source": source, "name": raw.name, "sha": raw.sha256}
    conn.execute(
        f"DELETE FROM staging.quarantine WHERE source = %(source)s AND file_sha256 IN ({older})", params
    )
    if table is None:
        return 0
    schema_name, _, table_name = table.partition(".")
    statement = sql.SQL("DELETE FROM {} WHERE file_sha256 IN (" + older + ")").format(
        sql.Identifier(schema_name, table_name)
    )
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.rowcount


# One key for every historical load: loads of any source wait for each other (they all end by
# rebuilding curated.games from every staging table).
LOAD_LOCK_KEY = 7_201_946_312

# What makes one file fail without stopping the others: a file that is not what it should be,
# or values PostgreSQL refuses. A lost connection or a programming error still stops the load.
FILE_ERRORS: tuple[type[BaseException], ...] = (
    DataFileError,
    OSError,
    EOFError,
    UnicodeError,
    zlib.error,
    psycopg.DataError,
    psycopg.IntegrityError,
    pl.exceptions.PolarsError,
)


def _run_now(conn: psycopg.Connection, statement: str, params: tuple[object, ...]) -> None:
    """Run a statement without leaving a transaction open that the caller did not open."""
    if conn.autocommit or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        conn.execute(statement, params)
    else:
        with conn.transaction():
            conn.execute(statement, params)


@contextmanager
def load_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the historical-load lock (a session advisory lock, re-entrant) for the block.

    A second process waits until the first one's block ends; loads never interleave.
    """
    _run_now(conn, "SELECT pg_advisory_lock(%s)", (LOAD_LOCK_KEY,))
    try:
        yield
    finally:
        # In a failed transaction nothing runs until the caller rolls back; the lock then goes
        # with the session when the connection closes.
        if conn.info.transaction_status != pq.TransactionStatus.INERROR and not conn.closed:
            _run_now(conn, "SELECT pg_advisory_unlock(%s)", (LOAD_LOCK_KEY,))


def load_guarded(
    conn: psycopg.Connection,
    source: str,
    path: Path,
    load_one: Callable[[Path], LoadSummary],
) -> LoadSummary:
    """Run ``load_one(path)`` in its own transaction; a file that fails is reported, not raised.

    Without an open transaction on ``conn`` the file's work commits when it is done (a later
    failure keeps it); inside one it is a savepoint. A file with no usable row at all (every
    row quarantined) is committed with its quarantine but reported as not loaded.
    """
    try:
        with conn.transaction():
            summary = load_one(path)
    except FILE_ERRORS as exc:
        message = str(exc) if isinstance(exc, DataFileError) else f"{path}: {type(exc).__name__}: {exc}"
        return LoadSummary(source=source, file_name=path.name, error=message.strip())
    if not summary.records and summary.error is None:
        what = f"all {summary.quarantined:,} rows quarantined" if summary.quarantined else "no rows"
        summary.error = f"{path}: nothing usable in the file ({what})"
    return summary


def load_each(
    paths: Iterable[str | Path],
    label: str,
    load_one: Callable[[Path], LoadSummary],
    progress: Progress | None = None,
    *,
    conn: psycopg.Connection | None = None,
    source: str | None = None,
) -> list[LoadSummary]:
    """Run ``load_one`` on every file, advancing a progress bar labelled ``label`` when given.

    With ``conn`` (the connection ``load_one`` writes on), the files load under
    :func:`load_lock`, each in its own transaction (:func:`load_guarded`): a file that fails is
    reported in its summary's ``error`` and the others still load. ``source`` names the source
    in a failed file's summary (default: ``label`` in lower case).
    """
    paths = [Path(p) for p in paths]
    task = progress.add_task(label, total=len(paths)) if progress is not None else None
    summaries = []
    with load_lock(conn) if conn is not None else _no_lock():
        for path in paths:
            if progress is not None and task is not None:
                progress.update(task, description=f"{label} {path.name}")
            if conn is None:
                summaries.append(load_one(path))
            else:
                summaries.append(load_guarded(conn, source or label.lower(), path, load_one))
            if progress is not None and task is not None:
                progress.advance(task)
    return summaries


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


def load_failed(summaries: Sequence[LoadSummary]) -> list[LoadSummary]:
    """The files not loaded whole; every file when nothing at all was loaded."""
    failed = [s for s in summaries if s.status != "loaded"]
    if not failed and not any(s.records for s in summaries):
        return list(summaries)
    return failed


def quarantined_rows(
    conn: psycopg.Connection, source: str | None = None, limit: int | None = None
) -> pl.DataFrame:
    """Quarantined rows (newest file first, then row order), of one source or of all."""
    from mlbedge.storage.database import fetch_frame

    return fetch_frame(
        conn,
        "SELECT source, file_name, row_number, reason, raw_row, quarantined_at FROM staging.quarantine "
        "WHERE %(source)s::text IS NULL OR source = %(source)s "
        "ORDER BY quarantined_at DESC, source, file_name, row_number, reason LIMIT %(limit)s",
        {"source": source, "limit": limit},
    )
