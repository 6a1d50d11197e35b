"""SBD parsers on the real recorded payloads: the odds widget (shape A) and the srfeeds splits (shape B)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from mlbedge.sources import sbd
from mlbedge.sources.snapshots import ParsedPayload
from tests.sources.conftest import make_meta

FEED = "sbd/srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json"
WIDGET = "sbd/wp-json_adpt_v1_mlb-odds_2026-09-27T14-06-46Z_trimmed_1game.json"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _feed(fixtures_dir: Path, fetched: datetime) -> ParsedPayload:
    return sbd.parse_betting_splits(
        (fixtures_dir / FEED).read_bytes(), make_meta("sbd", "betting_splits", fetched)
    )


def test_feed_games_lines_and_splits(fixtures_dir: Path) -> None:
    fetched = _at("2025-06-13T21:05:00+00:00")  # just after the recording's last update
    parsed = _feed(fixtures_dir, fetched)
    assert not parsed.quarantine
    games = parsed.frame("source_games")
    assert games.height == 15
    # Legacy codes resolve: CHW -> 145, WAS -> 120, OAK -> 133, ARI -> 109.
    ids = {
        row[0]: (row[1], row[2])
        for row in games.select("source_game_key", "away_team_id", "home_team_id").rows()
    }
    assert ids["20250614.12-MLB-CHW@TEX"] == (145, 140)
    assert ids["20250613.10-MLB-MIA@WAS"] == (146, 120)
    assert ids["20250614.12-MLB-OAK@KC"] == (133, 118)
    assert ids["20250614.01-MLB-SD@ARI"] == (135, 109)
    odds = parsed.frame("odds_quotes")
    # bet365 and fanatics carry empty strings: no quote, not an error.
    assert set(odds.get_column("book")) == {"betmgm", "caesars", "draftkings", "fanduel"}
    dk = odds.filter(
        (pl.col("source_game_key") == "20250613.10-MLB-TOR@PHI") & (pl.col("book") == "draftkings")
    ).sort("market", "side")
    assert dk.select("market", "side", "line", "price").rows() == [
        ("moneyline", "away", None, 100),
        ("moneyline", "home", None, -122),
        ("runline", "away", -1.5, 165),
        ("runline", "home", 1.5, -204),
        ("total", "over", 8.0, -108),
        ("total", "under", 8.0, -112),
    ]
    assert (odds.get_column("observed_at") == fetched).all()  # lines carry no time of their own
    splits = parsed.frame("splits").filter(pl.col("source_game_key") == "20250613.06-MLB-PIT@CHC")
    ml_home = splits.filter((pl.col("market") == "moneyline") & (pl.col("side") == "home")).row(0, named=True)
    assert (ml_home["bets_pct"], ml_home["money_pct"], ml_home["bet_count"]) == (66.01, 52.49, 13315)
    assert ml_home["observed_at"] == _at("2025-06-13T21:03:10.590+00:00")  # bettingSplits.updated


def test_sbd_splits_updated_after_first_pitch_are_in_play(fixtures_dir: Path) -> None:
    """Rule: a split's observation time is ``bettingSplits.<market>.updated``; one updated at or
    after first pitch (PIT@CHC, first pitch 18:20Z, updated 21:03Z) is ``in_play``, while splits
    updated before their game started stay pre-game even when fetched later."""
    parsed = _feed(fixtures_dir, _at("2025-06-14T09:00:00+00:00"))  # fetched after every game
    splits = parsed.frame("splits")
    in_play = splits.filter(pl.col("in_play")).get_column("source_game_key").unique().to_list()
    assert in_play == ["20250613.06-MLB-PIT@CHC"]
    assert splits.filter(~pl.col("in_play")).get_column("source_game_key").n_unique() == 14


def test_sbd_lines_of_a_game_under_way_are_in_play(fixtures_dir: Path) -> None:
    """Rule: lines carry no time, so they are observed at the fetch; fetched after first pitch
    (PIT@CHC at 21:05Z) they are in-game prices, ``in_play``."""
    odds = _feed(fixtures_dir, _at("2025-06-13T21:05:00+00:00")).frame("odds_quotes")
    started = odds.filter(pl.col("source_game_key") == "20250613.06-MLB-PIT@CHC")
    assert started.height > 0 and started.get_column("in_play").all()
    assert not odds.filter(pl.col("source_game_key") != "20250613.06-MLB-PIT@CHC").get_column("in_play").any()


def test_sbd_record_is_never_stored(fixtures_dir: Path) -> None:
    """Rule: ``home.record``/``away.record`` is the record at fetch time (the same trap as MLB
    ``leagueRecord``) and is never stored."""
    raw = json.loads((fixtures_dir / FEED).read_text())
    assert raw["games"][0]["home"]["record"] == "42-27"
    parsed = _feed(fixtures_dir, _at("2025-06-13T21:05:00+00:00"))
    columns = {c for frame in parsed.frames.values() for c in frame.columns}
    assert not any("record" in c for c in columns)


def test_widget_capture_current_and_opening_lines(fixtures_dir: Path) -> None:
    fetched = _at("2026-09-27T14:06:46+00:00")
    parsed = sbd.parse_mlb_odds((fixtures_dir / WIDGET).read_bytes(), make_meta("sbd", "mlb_odds", fetched))
    assert not parsed.quarantine
    game = parsed.frame("source_games").row(0, named=True)
    assert game["source_game_key"] == "sr:match:63299349"
    assert (game["away_team_id"], game["home_team_id"]) == (110, 147)  # BAL @ NYY
    assert game["start_time"] == _at("2026-09-27T17:05:00+00:00")
    odds = parsed.frame("odds_quotes")
    assert odds.height == 6 * 6 * 2  # 6 books x 6 sides x (current, opening)
    dk = odds.filter((pl.col("book") == "draftkings") & (pl.col("market") == "total")).sort(
        "side", "is_opening"
    )
    assert dk.select("side", "line", "price", "is_opening").rows() == [
        ("over", 7.5, 102, False),
        ("over", 9.0, 109, True),
        ("under", 7.5, -122, False),
        ("under", 9.0, -131, True),
    ]
    assert set(odds.get_column("book")) == {
        "betmgm",
        "draftkings",
        "betrivers",
        "bet365",
        "caesars",
        "fanduel",
    }
    splits = parsed.frame("splits")
    assert splits.height == 6 and splits.get_column("bet_count").is_null().all()
    assert (splits.get_column("observed_at") == _at("2026-09-27T13:10:41.686+00:00")).all()


def test_sbd_opening_lines_are_pregame_whenever_fetched(fixtures_dir: Path) -> None:
    """Rule: ``opening_*`` is the opening line, available at any time and not leakage; current
    lines fetched after first pitch are ``in_play``."""
    late = _at("2026-09-27T19:00:00+00:00")  # after the 17:05Z first pitch
    odds = sbd.parse_mlb_odds((fixtures_dir / WIDGET).read_bytes(), make_meta("sbd", "mlb_odds", late)).frame(
        "odds_quotes"
    )
    assert not odds.filter(pl.col("is_opening")).get_column("in_play").any()
    assert odds.filter(~pl.col("is_opening")).get_column("in_play").all()


def test_widget_204_empty_body_is_no_games(fixtures_dir: Path) -> None:
    parsed = sbd.parse_mlb_odds(b"", make_meta("sbd", "mlb_odds", _at("2026-01-01T00:00:00+00:00")))
    assert parsed.records == 0 and not parsed.quarantine
