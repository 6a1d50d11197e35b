"""Real data for the feature tests: SBRO 2015-2016, Retrosheet 2015-2016, Pinnacle 2016, Lahman,
retrosplits team games 2015-2016 and platoon splits 2012-2015, loaded once.

The files are loaded by the project's own loaders into one session database on the machine's
PostgreSQL, linked into curated.games, and read back the way the pipeline reads them. Tests that
write clone that database (``CREATE DATABASE ... TEMPLATE``), which takes well under a second.

No betting splits or live quotes exist for historical games, so the splits and live-quote tests
use SYNTHETIC snapshots (generated below, seeded) attached to real 2016 games at times around
their real cutoffs. Everything else is real.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import polars as pl
import psycopg
import pytest
from psycopg import sql

from mlbedge.features.io import copy_frame, read_inputs
from mlbedge.features.pipeline import GAME_COLUMNS, FeatureInputs, build_features
from mlbedge.games.link import rebuild_games
from mlbedge.sources.historical.lahman import load_lahman_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.retrosplits import load_retrosplits_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from tests.conftest import ADMIN_URL, DATA_DIR, drop_database

SEASONS = (2015, 2016)
CUTOFF = 60
LIVE_GAMES = 240  # 2016 games given synthetic live quotes and splits


def _create(template: str | None = None) -> str:
    name = f"mlbedge_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        clause = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{clause}')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def loaded_db() -> Iterator[str]:
    """URL of a database holding the real 2015-2016 data, linked into curated.games. Read only."""
    url = _create()
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
            load_sbro_files(conn, [DATA_DIR / "sbr" / f"mlb_odds_sbr_{s}.csv" for s in SEASONS])
            load_retrosheet_files(conn, [DATA_DIR / "retrosheet" / f"GL{s}.TXT" for s in SEASONS])
            # Player-level data: season rows of the three seasons before each game's season.
            load_lahman_files(conn, sorted((DATA_DIR / "lahman").glob("*.csv")))
            splits_dir = DATA_DIR / "retrosplits"
            load_retrosplits_files(
                conn,
                [splits_dir / f"teams-{s}.csv" for s in SEASONS]
                + [splits_dir / f"pitching-platoon-{s}.csv" for s in range(SEASONS[0] - 3, SEASONS[-1])],
            )
            pin = DATA_DIR / "pinnacle_2016"
            load_pinnacle(conn, pin / "pinnacle_mlb2016_games.csv", pin / "pinnacle_mlb2016_lines.csv.gz")
            rebuild_games(conn)
            conn.commit()
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def db_copy(loaded_db: str) -> Iterator[str]:
    """A private copy of the loaded database for a test that writes."""
    url = _create(template=loaded_db.rsplit("/", 1)[1])
    try:
        yield url
    finally:
        drop_database(url)


# The label columns of curated.games: read here so the tests can poison them; the pipeline's own
# reader never selects them.
LABEL_SCHEMA: dict[str, pl.DataType] = {
    "home_ml_close": pl.Int64(),
    "away_ml_close": pl.Int64(),
    "total_close": pl.Float64(),
    "over_odds_close": pl.Int64(),
    "under_odds_close": pl.Int64(),
    "home_rl": pl.Float64(),
    "home_rl_odds": pl.Int64(),
    "away_rl_odds": pl.Int64(),
    "home_starter": pl.String(),  # the actual starters: for labels and reports only
    "away_starter": pl.String(),
}


@pytest.fixture(scope="session")
def real_inputs(loaded_db: str) -> FeatureInputs:
    """The pipeline's inputs as read from the loaded database, the games WITH their label columns
    (closing lines, SBRO run line) so that tests can poison or delete them."""
    with psycopg.connect(loaded_db) as conn:
        inputs = read_inputs(conn)
        games = copy_frame(conn, sql.SQL("curated.games"), {**GAME_COLUMNS, **LABEL_SCHEMA})
    return replace(inputs, games=games)


@pytest.fixture(scope="session")
def baseline(real_inputs: FeatureInputs) -> pl.DataFrame:
    """Features of every 2015-2016 game from the untouched inputs."""
    return build_features(real_inputs, cutoff_minutes=CUTOFF)


def _synthetic_live(games: pl.DataFrame, as_of: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """SYNTHETIC live quotes and splits for some 2016 games: snapshots every few hours from 30 h
    before the cutoff to 3 h after it (the later ones must never be seen), two books each."""
    rng = np.random.default_rng(20160704)
    chosen = (
        games.filter(pl.col("season") == 2016, pl.col("start_time_utc").is_not_null())
        .select("game_id")
        .join(as_of, on="game_id")
        .sort("game_id")
        .head(LIVE_GAMES)
    )
    offsets_h = np.array([-30.0, -20.0, -9.0, -4.5, -1.0, -0.25, 0.0, 0.5, 2.0, 3.0])
    quote_rows, split_rows = [], []
    for book in ("bookA", "bookB"):
        n = chosen.height * len(offsets_h)
        game_ids = np.repeat(chosen["game_id"].to_numpy(), len(offsets_h))
        base = np.repeat(chosen["as_of"].to_numpy(), len(offsets_h))
        observed = base + (np.tile(offsets_h, chosen.height) * 3600e6).astype("timedelta64[us]")
        home = rng.integers(-180, -105, n)
        away = -home - rng.integers(5, 25, n)
        away = np.where(away < 100, 100 + rng.integers(0, 20, n), away)
        total = rng.choice([7.5, 8.0, 8.5, 9.0], n)
        frame = pl.DataFrame({"game_id": game_ids, "observed_at": observed})
        frame = frame.with_columns(pl.col("observed_at").dt.replace_time_zone("UTC"), book=pl.lit(book))
        for market, side, line, price in (
            ("moneyline", "home", None, home),
            ("moneyline", "away", None, away),
            ("total", "over", total, rng.integers(-120, -100, n)),
            ("total", "under", total, rng.integers(-120, -100, n)),
            ("runline", "home", np.full(n, -1.5), rng.integers(110, 160, n)),
            ("runline", "away", np.full(n, 1.5), -rng.integers(130, 180, n)),
        ):
            quote_rows.append(
                frame.with_columns(
                    market=pl.lit(market),
                    side=pl.lit(side),
                    line=pl.Series(line, dtype=pl.Float64) if line is not None else pl.lit(None, pl.Float64),
                    price=pl.Series(price, dtype=pl.Int64),
                )
            )
        for market, side in (("moneyline", "home"), ("total", "over"), ("runline", "home")):
            split_rows.append(
                frame.with_columns(
                    market=pl.lit(market),
                    side=pl.lit(side),
                    bets_pct=pl.Series(rng.uniform(20, 80, n).round(1)),
                    money_pct=pl.Series(rng.uniform(20, 80, n).round(1)),
                )
            )
    starts = games.select("game_id", "start_time_utc")
    quotes = (
        pl.concat(quote_rows)
        .join(starts, on="game_id")
        .with_columns(in_play=pl.col("observed_at") >= pl.col("start_time_utc"))
        .drop("start_time_utc")
    )
    splits = (
        pl.concat(split_rows)
        .join(starts, on="game_id")
        .with_columns(in_play=pl.col("observed_at") >= pl.col("start_time_utc"))
        .drop("start_time_utc")
    )
    return quotes, splits


@pytest.fixture(scope="session")
def live_inputs(real_inputs: FeatureInputs, baseline: pl.DataFrame) -> FeatureInputs:
    """The real inputs plus SYNTHETIC live quotes and splits on some 2016 games."""
    quotes, splits = _synthetic_live(real_inputs.games, baseline.select("game_id", "as_of"))
    return replace(real_inputs, quotes=quotes, splits=splits)


@pytest.fixture(scope="session")
def live_baseline(live_inputs: FeatureInputs) -> pl.DataFrame:
    """Features of every game from the real inputs plus the synthetic live snapshots."""
    return build_features(live_inputs, cutoff_minutes=CUTOFF)
