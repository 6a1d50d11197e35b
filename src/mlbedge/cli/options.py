"""Options every command shares, and how they reach the settings."""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from mlbedge.settings import Settings, get_settings

# Piped output (make demo, CI logs) gets a wider fixed width than rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)

HomeOption = typer.Option(
    None,
    "--home",
    help="Folder for all embedded state (same as MLBEDGE_HOME).",
    file_okay=False,
    resolve_path=True,
)


def parse_date(text: str | None, option: str = "--date") -> date | None:
    """``YYYY-MM-DD`` as a date (None stays None); a bad value is a usage error naming ``option``."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{option} {text!r} is not a date YYYY-MM-DD") from exc


def parse_dates(text: str | None, option: str = "--date") -> list[date] | None:
    """A comma-separated list of ``YYYY-MM-DD`` dates, sorted and unique (None stays None)."""
    if text is None:
        return None
    return sorted({d for part in text.split(",") if (d := parse_date(part, option)) is not None})


RoundsOption = typer.Option(None, "--rounds", help="Cap on boosting rounds (default: the trainer's).")


def settings_for(home: Path | None) -> Settings:
    """Settings with ``--home`` applied (it wins over MLBEDGE_HOME)."""
    if home is not None:
        os.environ["MLBEDGE_HOME"] = str(home)
        get_settings.cache_clear()
    return get_settings()


NowOption = typer.Option(
    None,
    "--now",
    help="Replay as if it were this moment (ISO 8601, e.g. 2024-08-12T22:00:00Z; no offset means UTC): "
    "fetches and observations are stamped with it.",
)


def parse_now(text: str | None) -> datetime | None:
    """``--now`` as an aware datetime (a time without an offset is UTC); None when not given."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"--now wants an ISO 8601 time such as 2024-08-12T22:00:00Z, got {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a clear error and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def print_frame(frame: pl.DataFrame, title: str | None = None) -> None:
    """A small frame as a table a person can read (nulls blank)."""
    table = Table(title=title)
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left", no_wrap=True)
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
