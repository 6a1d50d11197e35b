"""The unified games table on the real files: counts, links to Retrosheet, the `data games` contract."""

from __future__ import annotations

import csv
import io
import json

import polars as pl
import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.games.link import rebuild_games
from mlbedge.games.query import CONTRACT_COLUMNS, games_frame
from mlbedge.storage.database import fetch_frame

# Games per season after pairing (SOURCES.md), and SBRO's postseason games found from the calendar.
SBRO_GAMES = {2010: 2462, 2011: 2467, 2012: 2467, 2013: 2469, 2014: 2462, 2015: 2465,
              2016: 2462, 2017: 2467, 2018: 2464, 2019: 2464, 2020: 949}  # fmt: skip
TEAM_IDS = {*range(108, 122), *range(133, 148), 158}


@pytest.fixture(scope="module")
def games(loaded_db_url: str) -> pl.DataFrame:
    with psycopg.connect(loaded_db_url) as conn:
        return fetch_frame(conn, "SELECT * FROM curated.games")


def test_every_sbro_game_is_a_game_with_canonical_team_ids(games: pl.DataFrame) -> None:
    per_season = dict(games.filter(pl.col("in_sbro")).group_by("season").len().iter_rows())
    assert per_season == SBRO_GAMES
    assert set(games["home_team_id"]) | set(games["away_team_id"]) == TEAM_IDS
    assert games["game_id"].n_unique() == games.height


def test_2015_and_2019_regular_season_sbro_games_all_link_to_retrosheet(games: pl.DataFrame) -> None:
    for season in (2015, 2019):
        regular = games.filter((pl.col("season") == season) & (pl.col("game_type") == "R"))
        sbro = regular.filter(pl.col("in_sbro"))
        assert sbro.filter(~pl.col("in_retrosheet")).is_empty(), season
        # No postseason game links to the regular-season-only Retrosheet logs.
        post = games.filter((pl.col("season") == season) & (pl.col("game_type") == "P"))
        assert not post["in_retrosheet"].any()
        assert regular.filter(pl.col("in_retrosheet")).height == 2429


def test_doubleheaders_are_ordered_by_retrosheet_not_by_file_order(games: pl.DataFrame) -> None:
    dh = games.filter(pl.col("in_sbro") & pl.col("in_retrosheet") & (pl.col("sbro_dh_index") > 0))
    swapped = dh.filter(pl.col("game_num") != pl.col("sbro_dh_index"))
    # SOURCES.md: about half of the DH pairs are listed in swapped order in SBRO.
    assert 0.3 * dh.height < swapped.height < 0.7 * dh.height
    assert dh["flags"].str.contains("dh_order_linked").all()


def test_link_report_lists_the_real_mismatches(loaded_db_url: str) -> None:
    with psycopg.connect(loaded_db_url) as conn:
        report = rebuild_games(conn)  # rebuilding an unchanged database is a no-op
        conn.rollback()
    kinds = pl.DataFrame([m.model_dump() for m in report.mismatches])
    season_of = kinds.with_columns(season=pl.col("game_id").str.slice(0, 4).cast(pl.Int32))
    score_2015 = season_of.filter((pl.col("season") == 2015) & (pl.col("kind") == "score_sbro_vs_retrosheet"))
    assert 2 <= score_2015.height <= 8  # SOURCES.md: about four wrong SBRO scores per season
    missing_2019 = season_of.filter(pl.col("kind") == "retrosheet_without_sbro")["game_id"].to_list()
    assert "20190807-KC-BOS-0" in missing_2019  # the one game SOURCES.md says SBRO lacks
    by_season = {s.season: s for s in report.seasons}
    assert by_season[2016].sbro_pinnacle == 2459  # SOURCES.md: 2,459 of 2,461 matched


def test_data_games_prints_the_contract_columns(
    loaded_db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", loaded_db_url)
    runner = CliRunner()
    result = runner.invoke(
        app, ["data", "games", "--season", "2019", "--format", "csv", "--home", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert len(rows) == 2466
    assert {r["game_type"] for r in rows} == {"R", "P"}
    assert all(r["home_ml_open"] != "0" for r in rows)  # missing is empty, never 0
    assert sum(r["home_ml_open"] == "" for r in rows) >= 5  # the 2019 NL opening lines
    as_json = runner.invoke(
        app, ["data", "games", "--season", "2019", "--format", "json", "--home", str(tmp_path)]
    )
    parsed = json.loads(as_json.stdout)
    assert len(parsed) == 2466 and isinstance(parsed[0]["home_ml_open"], int | None)


def test_games_frame_types(loaded_db_url: str) -> None:
    with psycopg.connect(loaded_db_url) as conn:
        frame = games_frame(conn, 2016)
    assert frame.schema["home_ml_open"] == pl.Int64
    assert frame.schema["total_open"] == pl.Float64
    assert frame.filter(pl.col("start_time_utc").is_not_null()).height >= 2459  # Pinnacle times
