"""Linking sources into games: doubleheaders by score and pitcher, never by file order."""

from __future__ import annotations

import datetime as dt

import polars as pl

from mlbedge.games.link import build_games

D = dt.date(2015, 7, 4)
NYY, BOS = 147, 111


def _sbro(rows: list[dict]) -> pl.DataFrame:
    base = {
        "season": 2015, "date": D, "away_team_id": NYY, "home_team_id": BOS, "dh_index": 0,
        "away_pitcher": None, "home_pitcher": None, "away_pitcher_hand": "R", "home_pitcher_hand": "L",
        "away_score": 0, "home_score": 0, "home_ml_open": -120, "away_ml_open": 110,
        "home_ml_close": -125, "away_ml_close": 115, "total_open": 8.5, "total_close": 9.0,
        "over_odds_open": -110, "under_odds_open": -110, "over_odds_close": -105,
        "under_odds_close": -115, "home_rl": -1.5, "home_rl_odds": 150, "away_rl_odds": -170,
        "game_type": "R", "flags": "",
    }  # fmt: skip
    return pl.DataFrame([{**base, **r} for r in rows])


def _retro(rows: list[dict]) -> pl.DataFrame:
    base = {
        "date": D, "away_team_id": NYY, "home_team_id": BOS, "game_num": 0, "day_night": "D",
        "away_score": 0, "home_score": 0, "away_starter_id": "x", "away_starter_name": None,
        "home_starter_id": "y", "home_starter_name": None,
    }  # fmt: skip
    return pl.DataFrame([{**base, **r} for r in rows])


EMPTY_PIN = pl.DataFrame(
    schema={
        "pin_game_no": pl.Int64, "date": pl.Date, "away_team_id": pl.Int64, "home_team_id": pl.Int64,
        "doubleheader_game": pl.Int64, "start_time_utc": pl.Datetime("us", "UTC"),
        "away_score": pl.Int64, "home_score": pl.Int64, "away_pitcher": pl.String,
        "home_pitcher": pl.String,
    }
)  # fmt: skip


def test_doubleheader_listed_in_swapped_order_is_matched_by_score_and_pitcher() -> None:
    # SBRO lists game 2 first; Retrosheet knows the true order.
    sbro = _sbro(
        [
            {
                "dh_index": 1,
                "away_score": 7,
                "home_score": 2,
                "away_pitcher": "MTANAKA",
                "flags": "dh_order_unverified",
            },
            {
                "dh_index": 2,
                "away_score": 1,
                "home_score": 3,
                "away_pitcher": "CSABATHIA",
                "flags": "dh_order_unverified",
            },
        ]
    )
    retro = _retro(
        [
            {"game_num": 1, "away_score": 1, "home_score": 3, "away_starter_name": "CC Sabathia"},
            {"game_num": 2, "away_score": 7, "home_score": 2, "away_starter_name": "Masahiro Tanaka"},
        ]
    )
    games, mismatches = build_games(sbro, retro, EMPTY_PIN)
    by_id = {r["game_id"]: r for r in games.iter_rows(named=True)}
    assert set(by_id) == {"20150704-NYY-BOS-1", "20150704-NYY-BOS-2"}
    assert by_id["20150704-NYY-BOS-1"]["away_score"] == 1
    assert by_id["20150704-NYY-BOS-1"]["sbro_dh_index"] == 2
    assert by_id["20150704-NYY-BOS-2"]["sbro_dh_index"] == 1
    assert all("dh_order_linked" in r["flags"] for r in by_id.values())
    assert all("dh_order_unverified" not in r["flags"] for r in by_id.values())
    assert mismatches.is_empty()


def test_a_score_disagreement_keeps_retrosheet_and_is_reported() -> None:
    sbro = _sbro([{"away_score": 4, "home_score": 4, "flags": "tied_score"}])
    retro = _retro([{"away_score": 5, "home_score": 4}])
    games, mismatches = build_games(sbro, retro, EMPTY_PIN)
    row = games.row(0, named=True)
    assert (row["away_score"], row["home_score"]) == (5, 4)
    assert "score_from_retrosheet" in row["flags"]
    assert mismatches.get_column("kind").to_list() == ["score_sbro_vs_retrosheet"]


def test_games_only_one_source_has_are_kept_and_reported() -> None:
    sbro = _sbro([{"away_score": 2, "home_score": 1}])
    retro = _retro(
        [
            {"away_score": 2, "home_score": 1},
            {"date": dt.date(2015, 7, 5), "away_score": 3, "home_score": 0},
        ]
    )
    games, mismatches = build_games(sbro, retro, EMPTY_PIN)
    assert games.height == 2
    only_retro = games.filter(~pl.col("in_sbro")).row(0, named=True)
    assert only_retro["game_id"] == "20150705-NYY-BOS-0"
    assert only_retro["home_ml_open"] is None
    assert mismatches.select("game_id", "kind").rows() == [("20150705-NYY-BOS-0", "retrosheet_without_sbro")]


def test_suspect_prices_are_not_trusted() -> None:
    sbro = _sbro([{"home_ml_open": -1105, "flags": "suspect_ml_open"}])
    games, _ = build_games(sbro, _retro([]).clear(), EMPTY_PIN)
    row = games.row(0, named=True)
    assert row["home_ml_open"] is None and row["away_ml_open"] is None
    assert row["home_ml_close"] == -125
