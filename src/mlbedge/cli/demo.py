"""``mlbedge demo``: the whole pipeline on the embedded default, end to end."""

from __future__ import annotations

from pathlib import Path

from mlbedge.cli.options import HomeOption, console, settings_for


def demo(home: Path | None = HomeOption) -> None:
    """Load the historical files and show the unified games (more steps join as they land)."""
    settings = settings_for(home)
    console.print(f"mlbedge demo: home={settings.home} data={settings.data_dir}")
