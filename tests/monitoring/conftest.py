"""Real feature rows for the monitoring tests: the 2016 SBRO season, loaded, linked and built.

The season is loaded by the project's own loader into one session database on the machine's
PostgreSQL and run through the feature pipeline into ``curated.game_features`` (2,462 games,
every registry feature).
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import psycopg
import pytest

from mlbedge.features.io import build_and_store, read_features
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings, get_settings
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from tests.conftest import DATA_DIR, create_database, drop_database

SEASON = 2016


@pytest.fixture(scope="session")
def season_db() -> Iterator[str]:
    """URL of a database with the real 2016 games and their features. Read only."""
    url = create_database()
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
            load_sbro_files(conn, [DATA_DIR / "sbr" / f"mlb_odds_sbr_{SEASON}.csv"])
            rebuild_games(conn)
            build_and_store(conn, seasons=[SEASON], full=True, cutoff_minutes=60)
            conn.commit()
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def season_rows(season_db: str) -> pl.DataFrame:
    """The stored 2016 feature rows, one per game."""
    with psycopg.connect(season_db) as conn:
        return read_features(conn, seasons=[SEASON])


@pytest.fixture
def mon_settings(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """Default settings with an isolated home (no database URL: tests pass connections)."""
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLBEDGE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
