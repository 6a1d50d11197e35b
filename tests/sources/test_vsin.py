"""VSIN splits pages: both markups, on synthetic fixtures built from the documented shape."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from mlbedge.sources import vsin
from mlbedge.sources.snapshots import ParsedPayload
from tests.sources.conftest import make_meta

AT = datetime(2024, 8, 13, 22, 37, tzinfo=UTC)


def _parse(path: Path, book: str = "DK") -> ParsedPayload:
    return vsin.parse_splits(
        path.read_bytes(), make_meta("vsin", "splits", AT, {"source": book, "view": "today"})
    )


def test_current_layout_pairs_rows_and_reads_all_columns(local_fixtures: Path) -> None:
    parsed = _parse(local_fixtures / "vsin_current_sp_table.html")
    assert not parsed.quarantine
    games = parsed.frame("source_games").sort("seq")
    assert games.select("source_game_key", "away_team_id", "home_team_id", "seq").rows() == [
        ("20240813MLB00001", 120, 110, 1),  # WSH @ BAL
        ("20240813MLB00015", 144, 137, 15),  # ATL @ SF
    ]  # the NFL block is ignored
    splits = parsed.frame("splits").filter(pl.col("source_game_key") == "20240813MLB00001")
    got = {(r["market"], r["side"]): (r["money_pct"], r["bets_pct"]) for r in splits.iter_rows(named=True)}
    assert got == {
        ("runline", "away"): (41.0, 55.0),
        ("runline", "home"): (59.0, 45.0),
        ("total", "over"): (62.0, 70.0),  # the away row's total columns are OVER
        ("total", "under"): (38.0, 30.0),
        ("moneyline", "away"): (28.0, 35.0),
        ("moneyline", "home"): (72.0, 65.0),
    }
    odds = parsed.frame("odds_quotes").filter(pl.col("source_game_key") == "20240813MLB00001")
    lines = {(r["market"], r["side"]): (r["line"], r["price"]) for r in odds.iter_rows(named=True)}
    assert lines[("moneyline", "away")] == (None, 145) and lines[("moneyline", "home")] == (None, -175)
    assert lines[("runline", "home")] == (-1.5, None) and lines[("total", "over")] == (9.0, None)
    assert set(parsed.frame("odds_quotes").get_column("book")) == {"draftkings"}
    assert (parsed.frame("splits").get_column("observed_at") == AT).all()  # the page has no time


def test_the_game_code_dates_the_game_not_the_block_header(local_fixtures: Path) -> None:
    """ATL@SF sits under "MLB - Wednesday, August 14" but its code says 20240813: the game is
    dated by the code (the header rolls over at odd hours)."""
    games = _parse(local_fixtures / "vsin_current_sp_table.html").frame("source_games")
    late = games.filter(pl.col("source_game_key") == "20240813MLB00015").row(0, named=True)
    assert late["game_date"] == date(2024, 8, 13) and late["start_time"] is None


def test_vsin_final_rows_are_in_play(local_fixtures: Path) -> None:
    """Rule: the page has no update time; rows of a game marked ``sp-game-final`` are over, so
    ``in_play`` at once. The others are marked against the MLB first pitch once linked."""
    parsed = _parse(local_fixtures / "vsin_current_sp_table.html")
    for table in ("odds_quotes", "splits"):
        frame = parsed.frame(table)
        assert frame.filter(pl.col("source_game_key") == "20240813MLB00001").get_column("in_play").all()
        assert not frame.filter(pl.col("source_game_key") == "20240813MLB00015").get_column("in_play").any()
    status = dict(parsed.frame("source_games").select("source_game_key", "status").rows())
    assert status == {"20240813MLB00001": "final", "20240813MLB00015": None}


def test_legacy_layout_splits_cells_at_hr_and_reads_team_slugs(local_fixtures: Path) -> None:
    parsed = _parse(local_fixtures / "vsin_legacy_freezetable.html", book="CIRCA")
    assert not parsed.quarantine
    games = parsed.frame("source_games").sort("seq")
    assert games.select("source_game_key", "away_team_id", "home_team_id", "game_date").rows() == [
        ("20240813MLB00010", 147, 145, date(2024, 8, 13)),  # "NY Yankees" @ "Chi White Sox" by slug
        ("20240813MLB00012", 141, 108, date(2024, 8, 13)),
    ]
    odds = parsed.frame("odds_quotes").filter(pl.col("source_game_key") == "20240813MLB00010")
    lines = {(r["market"], r["side"]): (r["line"], r["price"]) for r in odds.iter_rows(named=True)}
    assert lines == {
        ("moneyline", "away"): (None, -250),
        ("moneyline", "home"): (None, 205),
        ("total", "over"): (8.5, None),
        ("total", "under"): (8.5, None),
        ("runline", "away"): (-1.5, -130),
        ("runline", "home"): (1.5, 110),
    }
    splits = parsed.frame("splits").filter(pl.col("source_game_key") == "20240813MLB00010")
    ml = {
        r["side"]: (r["money_pct"], r["bets_pct"])
        for r in splits.filter(pl.col("market") == "moneyline").iter_rows(named=True)
    }
    assert ml == {"away": (81.0, 77.0), "home": (19.0, 23.0)}
    assert set(parsed.frame("splits").get_column("book")) == {"circa"}


def test_a_page_without_the_table_is_a_parse_error() -> None:
    page = b"<html><body><h1>Betting Splits</h1><p>Subscribe to see the splits.</p></body></html>"
    with pytest.raises(vsin.VsinParseError, match="no splits table"):
        vsin.parse_splits(page, make_meta("vsin", "splits", AT, {"source": "DK"}))
