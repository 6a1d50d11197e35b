"""Linking source games to gamePk: nearest first pitch, doubleheaders, date-and-order, reporting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from mlbedge.sources.matching import match_games

DAY = date(2024, 8, 13)
T0 = datetime(2024, 8, 13, 17, 5, tzinfo=UTC)


def _src(
    key: str,
    start: datetime | None,
    *,
    source: str = "action_network",
    seq: int | None = None,
    teams: tuple[int, int] = (147, 110),
    day: date | None = DAY,
) -> dict[str, Any]:
    return {
        "source": source,
        "source_game_key": key,
        "game_date": day,
        "start_time": start,
        "away_team_id": teams[0],
        "home_team_id": teams[1],
        "seq": seq,
    }


def _mlb(
    pk: int, start: datetime, number: int = 1, teams: tuple[int, int] = (147, 110), day: date = DAY
) -> dict[str, Any]:
    return {
        "game_pk": pk,
        "official_date": day,
        "game_date": start,
        "away_team_id": teams[0],
        "home_team_id": teams[1],
        "game_number": number,
    }


def _links(source: list[dict], schedule: list[dict]) -> dict[str, tuple[int | None, str]]:
    frame = match_games(
        pl.DataFrame(source, schema_overrides={"start_time": pl.Datetime("us", "UTC"), "seq": pl.Int64}),
        pl.DataFrame(schedule),
    )
    return {r["source_game_key"]: (r["game_pk"], r["match_status"]) for r in frame.iter_rows(named=True)}


def test_doubleheader_with_a_nominal_second_time_pairs_in_order() -> None:
    # MLB lists game 2 with game 1's time (nominal); AN has the real times of both.
    schedule = [_mlb(1, T0, 1), _mlb(2, T0, 2)]
    source = [_src("a1", T0), _src("a2", T0 + timedelta(hours=4, minutes=5))]
    assert _links(source, schedule) == {"a1": (1, "matched"), "a2": (2, "matched")}


def test_doubleheader_with_real_times_goes_by_nearest_start() -> None:
    schedule = [_mlb(1, T0, 1), _mlb(2, T0 + timedelta(hours=5), 2)]
    source = [_src("late", T0 + timedelta(hours=5, minutes=3)), _src("early", T0 - timedelta(minutes=10))]
    assert _links(source, schedule) == {"late": (2, "matched"), "early": (1, "matched")}


def test_two_payload_shapes_of_one_game_both_link() -> None:
    # SBD names the same game twice (widget match id and feed id): same first pitch, same gamePk.
    schedule = [_mlb(7, T0)]
    source = [_src("sr:match:1", T0, source="sbd"), _src("20240813.05-MLB-NYY@BAL", T0, source="sbd")]
    assert _links(source, schedule) == {
        "sr:match:1": (7, "matched"),
        "20240813.05-MLB-NYY@BAL": (7, "matched"),
    }


def test_two_different_games_cannot_share_one_gamepk() -> None:
    # MLB knows only game 1 of a doubleheader yet; the source already lists both.
    schedule = [_mlb(1, T0, 1)]
    source = [_src("g1", T0), _src("g2", T0 + timedelta(hours=4))]
    links = _links(source, schedule)
    assert links["g1"] == (1, "matched") and links["g2"] == (None, "ambiguous")


def test_same_teams_a_day_apart_never_mix() -> None:
    schedule = [_mlb(1, T0), _mlb(2, T0 + timedelta(days=1), day=DAY + timedelta(days=1))]
    source = [_src("tomorrow", T0 + timedelta(days=1, minutes=2))]
    assert _links(source, schedule) == {"tomorrow": (2, "matched")}


def test_untimed_games_go_by_date_and_order_of_the_day() -> None:
    # VSIN: no first pitch; game codes 3 and 17 of the day for a doubleheader.
    schedule = [_mlb(11, T0, 1), _mlb(12, T0 + timedelta(hours=4), 2), _mlb(13, T0, teams=(121, 143))]
    source = [
        _src("20240813MLB00017", None, source="vsin", seq=17),
        _src("20240813MLB00003", None, source="vsin", seq=3),
        _src("20240813MLB00005", None, source="vsin", seq=5, teams=(121, 143)),
        _src("20240814MLB00001", None, source="vsin", seq=1, day=DAY + timedelta(days=1)),
    ]
    assert _links(source, schedule) == {
        "20240813MLB00003": (11, "matched"),
        "20240813MLB00017": (12, "matched"),
        "20240813MLB00005": (13, "matched"),
        "20240814MLB00001": (None, "unmatched"),  # reported, not dropped
    }


def test_reversed_home_and_away_is_not_a_match_and_no_time_no_date_is_reported() -> None:
    schedule = [_mlb(1, T0)]
    source = [_src("reversed", T0, teams=(110, 147)), _src("blind", None, day=None)]
    links = _links(source, schedule)
    assert links == {"reversed": (None, "unmatched"), "blind": (None, "unmatched")}
