"""What every historical loader shares: raw file capture, quarantine and the load summary."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import psycopg
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
        path = Path(path)
        if not path.is_file():
            raise DataFileError(path, "no such file")
        return cls(path=path, content=path.read_bytes())


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
            pl.DataFrame(self.rows, schema=["row_number", "reason", "raw_row"], orient="row")
            .with_columns(
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
    """Upsert one file's parsed records, quarantine its bad rows and summarise the load."""
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


def load_each(
    paths: Iterable[str | Path],
    label: str,
    load_one: Callable[[Path], LoadSummary],
    progress: Progress | None = None,
) -> list[LoadSummary]:
    """Run ``load_one`` on every file, advancing a progress bar labelled ``label`` when given."""
    paths = [Path(p) for p in paths]
    task = progress.add_task(label, total=len(paths)) if progress is not None else None
    summaries = []
    for path in paths:
        if progress is not None and task is not None:
            progress.update(task, description=f"{label} {path.name}")
        summaries.append(load_one(path))
        if progress is not None and task is not None:
            progress.advance(task)
    return summaries
