"""Bad input: changed field names, nulls where numbers were, a missing table, truncated JSON,
unknown team codes. The bad part is quarantined with its reason; the rest of the payload loads."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from mlbedge.sources import action_network, mlb_stats, sbd, vsin
from mlbedge.sources.snapshots import SourceParseError
from tests.sources.conftest import make_meta
from tests.sources.fixtures import action_network_payloads as an

AT = datetime(2025, 6, 13, 12, 0, tzinfo=UTC)
SCHEDULE = "mlb_statsapi/schedule_2024-08-13_hydrate_person_probablePitcher_linescore.json"
FEED = "sbd/srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json"
WIDGET = "sbd/wp-json_adpt_v1_mlb-odds_2026-09-27T14-06-46Z_trimmed_1game.json"


def _schedule(raw: dict[str, Any]) -> Any:
    return mlb_stats.parse_schedule(
        json.dumps(raw).encode(), make_meta("mlb_stats", "schedule", AT, {"hydrate": "probablePitcher"})
    )


def _board(raw: dict[str, Any]) -> Any:
    return action_network.parse_scoreboard(
        json.dumps(raw).encode(), make_meta("action_network", "scoreboard", AT, {"date": "20250701"})
    )


def _feed(raw: dict[str, Any]) -> Any:
    return sbd.parse_betting_splits(json.dumps(raw).encode(), make_meta("sbd", "betting_splits", AT))


@pytest.fixture(scope="module")
def schedule_raw(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / SCHEDULE).read_text())


@pytest.fixture(scope="module")
def board_raw(fixtures_dir: Path, an_teams: dict) -> dict[str, Any]:
    return an.scoreboard(an.csv_slate(fixtures_dir), an_teams)


@pytest.fixture(scope="module")
def feed_raw(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / FEED).read_text())


# ---- changed field names ----------------------------------------------------------------


def test_mlb_renamed_field_quarantines_that_game_only(schedule_raw: dict) -> None:
    raw = copy.deepcopy(schedule_raw)
    game = raw["dates"][0]["games"][3]
    game["gameDateTime"] = game.pop("gameDate")
    parsed = _schedule(raw)
    assert parsed.frame("schedule").height == 14
    [item] = parsed.quarantine
    assert item.item_key == f"gamePk {game['gamePk']}" and "gameDate: missing" in item.reason
    assert '"gameDateTime"' in item.raw_item


def test_an_renamed_field_quarantines_that_game_only(board_raw: dict) -> None:
    raw = copy.deepcopy(board_raw)
    raw["games"][2]["startTime"] = raw["games"][2].pop("start_time")
    parsed = _board(raw)
    assert parsed.frame("source_games").height == 14
    [item] = parsed.quarantine
    assert item.item_key == f"event {raw['games'][2]['id']}" and "start_time: missing" in item.reason


def test_sbd_renamed_field_quarantines_that_game_only(feed_raw: dict) -> None:
    raw = copy.deepcopy(feed_raw)
    raw["games"][5]["startDate"] = raw["games"][5].pop("date")
    parsed = _feed(raw)
    assert parsed.frame("source_games").height == 14
    [item] = parsed.quarantine
    assert item.item_key == f"game {raw['games'][5]['_id']}" and "date: missing" in item.reason


def test_renamed_top_level_list_is_a_parse_error(schedule_raw: dict, board_raw: dict, feed_raw: dict) -> None:
    with pytest.raises(mlb_stats.MlbStatsParseError, match="no 'dates' list"):
        _schedule({"gameDates": schedule_raw["dates"]})
    with pytest.raises(action_network.ActionNetworkParseError, match="no 'games' list"):
        _board({"events": board_raw["games"]})
    with pytest.raises(sbd.SbdParseError, match="no 'games' list"):
        _feed({"matchups": feed_raw["games"]})


# ---- nulls where numbers were -------------------------------------------------------------


def test_null_team_id_quarantines_the_game_null_price_drops_only_the_quote(
    schedule_raw: dict, board_raw: dict
) -> None:
    raw = copy.deepcopy(schedule_raw)
    raw["dates"][0]["games"][0]["teams"]["home"]["team"]["id"] = None
    parsed = _schedule(raw)
    assert (
        parsed.frame("schedule").height == 14 and "teams.home.team.id: missing" in parsed.quarantine[0].reason
    )

    raw = copy.deepcopy(board_raw)
    game = raw["games"][4]
    game["markets"]["69"]["event"]["moneyline"][0]["odds"] = None  # no price posted yet
    game["away_team_id"] = raw["games"][4]["away_team_id"]
    raw["games"][6]["home_team_id"] = None
    parsed = _board(raw)
    keys = parsed.frame("source_games").get_column("source_game_key").to_list()
    assert str(raw["games"][6]["id"]) not in keys and len(keys) == 14
    assert "home_team_id: missing" in parsed.quarantine[0].reason
    fanduel_ml = parsed.frame("odds_quotes").filter(
        (pl.col("source_game_key") == str(game["id"]))
        & (pl.col("book") == "fanduel")
        & (pl.col("market") == "moneyline")
    )
    assert fanduel_ml.height == 1  # the other side still loads


def test_a_quarter_total_is_quarantined_not_rounded(board_raw: dict) -> None:
    """A 7.75 total is an Asian line (half the stake on 7.5, half on 8) that settlement does not
    model: the quote is quarantined with its field named, never stored as a rounded line; the
    game's other quotes load. SYNTHETIC: one outcome of the documented AN shape altered."""
    raw = copy.deepcopy(board_raw)
    game = raw["games"][2]
    game["markets"]["15"]["event"]["total"][0]["value"] = 7.75
    parsed = _board(raw)
    (bad,) = parsed.quarantine
    assert bad.item_key == f"event {game['id']} book 15 total[0]"
    assert "not a half-run line: 7.75" in bad.reason
    quotes = parsed.frame("odds_quotes")
    assert 7.75 not in quotes.get_column("line").to_list()
    same_game = quotes.filter(pl.col("source_game_key") == str(game["id"]))
    assert same_game.height > 0 and same_game.filter(pl.col("market") == "moneyline").height > 0


def test_sbd_null_percentages_and_text_prices(feed_raw: dict) -> None:
    raw = copy.deepcopy(feed_raw)
    game = raw["games"][1]
    game["bettingSplits"]["moneyline"]["home"]["betsPercentage"] = None
    game["bettingSplits"]["moneyline"]["home"]["stakePercentage"] = None
    game["bettingSplits"]["moneyline"]["home"]["bets"] = None
    dk = next(b for b in game["sportsbooks"] if b["name"] == "draftkings")
    dk["odds"]["moneyline"]["away"]["american"] = "pick'em?"
    parsed = _feed(raw)
    assert parsed.frame("source_games").height == 15
    [item] = parsed.quarantine
    assert item.item_key == f"game {game['_id']} sportsbooks[3]" and "not an American price" in item.reason
    splits = parsed.frame("splits").filter(pl.col("source_game_key") == game["_id"])
    assert splits.height == 5  # the emptied side is simply absent
    other_books = parsed.frame("odds_quotes").filter(pl.col("source_game_key") == game["_id"])
    assert "draftkings" not in other_books.get_column("book").to_list() and other_books.height > 0


# ---- truncated JSON and missing tables ---------------------------------------------------


@pytest.mark.parametrize(
    ("parser", "error", "source", "endpoint"),
    [
        (mlb_stats.parse_schedule, mlb_stats.MlbStatsParseError, "mlb_stats", "schedule"),
        (mlb_stats.parse_feed_live, mlb_stats.MlbStatsParseError, "mlb_stats", "feed_live"),
        (mlb_stats.parse_standings, mlb_stats.MlbStatsParseError, "mlb_stats", "standings"),
        (mlb_stats.parse_teams, mlb_stats.MlbStatsParseError, "mlb_stats", "teams"),
        (
            action_network.parse_scoreboard,
            action_network.ActionNetworkParseError,
            "action_network",
            "scoreboard",
        ),
        (action_network.parse_history, action_network.ActionNetworkParseError, "action_network", "history"),
        (sbd.parse_mlb_odds, sbd.SbdParseError, "sbd", "mlb_odds"),
        (sbd.parse_betting_splits, sbd.SbdParseError, "sbd", "betting_splits"),
    ],
)
def test_truncated_json_is_the_parsers_own_error(
    parser: Any, error: type, source: str, endpoint: str, fixtures_dir: Path
) -> None:
    body = (fixtures_dir / FEED).read_bytes()[:5000]  # cut mid-document
    with pytest.raises(error, match="invalid or truncated JSON") as caught:
        parser(body, make_meta(source, endpoint, AT, context={"event_id": 1}))
    assert isinstance(caught.value, SourceParseError) and endpoint in str(caught.value)


def test_html_with_the_table_missing(local_fixtures: Path) -> None:
    page = (local_fixtures / "vsin_current_sp_table.html").read_text()
    stripped = page.replace('class="sp-table"', 'class="sp-cards"')  # a layout change
    with pytest.raises(vsin.VsinParseError, match=r"no splits table \(table.sp-table or table.freezetable\)"):
        vsin.parse_splits(stripped.encode(), make_meta("vsin", "splits", AT, {"source": "DK"}))


def test_vsin_row_missing_cells_quarantines_that_game(local_fixtures: Path) -> None:
    page = (local_fixtures / "vsin_current_sp_table.html").read_text()
    broken = page.replace('<td><span class="sp-badge">33%</span></td>', "", 1)  # ATL row loses a cell
    parsed = vsin.parse_splits(broken.encode(), make_meta("vsin", "splits", AT, {"source": "DK"}))
    assert parsed.frame("source_games").get_column("source_game_key").to_list() == ["20240813MLB00001"]
    [item] = parsed.quarantine
    assert item.item_key == "game 20240813MLB00015" and "expected 11 cells, found 10" in item.reason


# ---- unknown team codes --------------------------------------------------------------------


def test_unknown_team_codes_quarantine_the_game_with_the_code(
    schedule_raw: dict, board_raw: dict, feed_raw: dict, fixtures_dir: Path, local_fixtures: Path
) -> None:
    raw = copy.deepcopy(schedule_raw)
    raw["dates"][0]["games"][1]["teams"]["away"]["team"]["id"] = 999
    parsed = _schedule(raw)
    assert parsed.frame("schedule").height == 14
    assert "unknown mlb team code 999" in parsed.quarantine[0].reason

    raw = copy.deepcopy(board_raw)
    raw["games"][0]["away_team_id"] = 4242
    parsed = _board(raw)
    assert parsed.frame("source_games").height == 14
    assert "unknown action_network team code 4242" in parsed.quarantine[0].reason

    raw = copy.deepcopy(feed_raw)
    raw["games"][0]["home"].update(code="XYZ", city="Nowhere", team="Nobodies")
    parsed = _feed(raw)
    assert parsed.frame("source_games").height == 14
    assert "unknown name team code 'Nowhere Nobodies'" in parsed.quarantine[0].reason

    widget = json.loads((fixtures_dir / WIDGET).read_text())
    widget[0]["body"]["data"][0]["competitors"]["home"].update(
        abbr="QQQ", abbreviation="QQQ", market="X", name="Y"
    )
    parsed = sbd.parse_mlb_odds(json.dumps(widget).encode(), make_meta("sbd", "mlb_odds", AT))
    assert parsed.records == 0 and "unknown name team code 'X Y'" in parsed.quarantine[0].reason

    page = (local_fixtures / "vsin_legacy_freezetable.html").read_text()
    page = page.replace('/mlb/teams/toronto-blue-jays">Toronto', '/mlb/teams/montreal-expos">Montreal')
    parsed = vsin.parse_splits(page.encode(), make_meta("vsin", "splits", AT, {"source": "DK"}))
    assert parsed.frame("source_games").get_column("source_game_key").to_list() == ["20240813MLB00010"]
    assert "unknown vsin team code 'montreal-expos'" in parsed.quarantine[0].reason
