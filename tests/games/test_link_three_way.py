"""2016 on the real files: SBRO, Pinnacle and the Retrosheet game log linked three ways, in any order.

2016 is the only season with all three sources, so it is where a game one source lacks (SBRO misses
the first game of two doubleheaders that the other two have) meets a game another source lacks.
"""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.storage.database import fetch_frame
from tests.conftest import DATA_DIR, create_database, drop_database

SBRO = DATA_DIR / "sbr" / "mlb_odds_sbr_2016.csv"
PIN = [
    DATA_DIR / "pinnacle_2016" / "pinnacle_mlb2016_games.csv",
    DATA_DIR / "pinnacle_2016" / "pinnacle_mlb2016_lines.csv.gz",
]
RETRO = DATA_DIR / "retrosheet" / "GL2016.TXT"
LOADS = {"sbro": [SBRO], "pinnacle": PIN, "retrosheet": [RETRO]}
COLUMNS = "game_id, game_type, home_score, away_score, in_sbro, in_retrosheet, in_pinnacle, home_ml_open, start_time_utc, flags"


def _load_in_order(order: list[str], tmp_path, monkeypatch: pytest.MonkeyPatch):
    url = create_database()
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", url)
    runner = CliRunner()
    try:
        for source in order:
            result = runner.invoke(
                app, ["data", "load", source, *map(str, LOADS[source]), "--home", str(tmp_path)]
            )
            # Every load exits cleanly: a crash in linking would surface here as an exception.
            assert result.exception is None or isinstance(result.exception, SystemExit), result.output
            assert result.exit_code == 0, result.output
        report = runner.invoke(app, ["data", "link-report", "--season", "2016", "--home", str(tmp_path)])
        assert report.exit_code == 0, report.output
        with psycopg.connect(url) as conn:
            games = fetch_frame(conn, f"SELECT {COLUMNS} FROM curated.games ORDER BY game_id")
            mismatches = fetch_frame(conn, "SELECT game_id, kind FROM curated.link_mismatches ORDER BY 1, 2")
        return games, mismatches, report.output
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def monkeymodule():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def forward(tmp_path_factory, monkeymodule):
    return _load_in_order(["sbro", "pinnacle", "retrosheet"], tmp_path_factory.mktemp("fwd"), monkeymodule)


def test_every_2016_game_is_one_row_with_all_the_sources_that_have_it(forward) -> None:
    games, mismatches, _ = forward
    assert games["game_id"].n_unique() == games.height
    regular = games.filter(games["game_type"] == "R")
    retro = regular.filter(regular["in_retrosheet"])
    assert retro.height == 2428  # SOURCES.md: 2,428 games in GL2016, each exactly once
    all_three = retro.filter(retro["in_sbro"] & retro["in_pinnacle"])
    assert all_three.height == 2424
    # The two doubleheader openers SBRO lacks are still one game each, linked to Pinnacle's line.
    only_two = retro.filter(~retro["in_sbro"])
    assert sorted(only_two["game_id"]) == ["20160720-SD-STL-1", "20160726-STL-NYM-1"]
    assert only_two["in_pinnacle"].all() and only_two["start_time_utc"].is_not_null().all()
    kinds = {(g, k) for g, k in mismatches.iter_rows()}
    assert ("20160720-SD-STL-1", "retrosheet_without_sbro") in kinds
    assert ("20160906-AZ-LAD-0", "sbro_without_pinnacle") in kinds  # a real Pinnacle gap
    # A real SBRO score error, reported with Retrosheet's score kept.
    assert ("20160624-CLE-DET-0", "score_sbro_vs_retrosheet") in kinds
    cle_det = games.filter(games["game_id"] == "20160624-CLE-DET-0")
    assert cle_det.select("away_score", "home_score").row(0) == (7, 5)


def test_any_loading_order_gives_the_same_games(forward, tmp_path, monkeypatch) -> None:
    games, mismatches, _ = forward
    other_games, other_mismatches, _ = _load_in_order(
        ["retrosheet", "pinnacle", "sbro"], tmp_path, monkeypatch
    )
    assert other_games.equals(games)
    assert other_mismatches.equals(mismatches)
