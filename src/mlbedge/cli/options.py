"""Options every command shares, and how they reach the settings."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from mlbedge.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)

HomeOption = typer.Option(
    None,
    "--home",
    help="Folder for all embedded state (same as MLBEDGE_HOME).",
    file_okay=False,
    resolve_path=True,
)


def settings_for(home: Path | None) -> Settings:
    """Settings with ``--home`` applied (it wins over MLBEDGE_HOME)."""
    if home is not None:
        os.environ["MLBEDGE_HOME"] = str(home)
        get_settings.cache_clear()
    return get_settings()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a clear error and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
