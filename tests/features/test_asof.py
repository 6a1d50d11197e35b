"""The time rules: each game's cutoff, and when its result and opening line are observed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from mlbedge.features.asof import game_clock, local_midnight, utc_offset_hours

NYY, LAD, AZ, TOR = 147, 119, 109, 141


def _clock(rows: list[dict], cutoff: int = 60) -> dict[str, dict]:
    frame = pl.DataFrame(
        rows,
        schema={
            "game_id": pl.String,
            "date": pl.Date,
            "home_team_id": pl.Int64,
            "start_time_utc": pl.Datetime("us", "UTC"),
        },
    )
    out = game_clock(frame.lazy(), cutoff).collect()
    return {r["game_id"]: r for r in out.iter_rows(named=True)}


def test_unknown_start_cuts_at_local_midnight_and_results_arrive_at_the_next_midnight() -> None:
    clock = _clock(
        [
            {"game_id": "nyy", "date": date(2015, 7, 4), "home_team_id": NYY, "start_time_utc": None},
            {"game_id": "lad", "date": date(2015, 7, 4), "home_team_id": LAD, "start_time_utc": None},
            {"game_id": "az", "date": date(2015, 7, 4), "home_team_id": AZ, "start_time_utc": None},
            {"game_id": "tor", "date": date(2015, 1, 10), "home_team_id": TOR, "start_time_utc": None},
        ]
    )
    assert clock["nyy"]["as_of"] == datetime(2015, 7, 4, 4, tzinfo=UTC)  # EDT
    assert clock["nyy"]["result_observed_at"] == datetime(2015, 7, 5, 4, tzinfo=UTC)
    assert clock["lad"]["as_of"] == datetime(2015, 7, 4, 7, tzinfo=UTC)  # PDT
    assert clock["az"]["as_of"] == datetime(2015, 7, 4, 7, tzinfo=UTC)  # Arizona keeps MST all year
    assert clock["tor"]["as_of"] == datetime(2015, 1, 10, 5, tzinfo=UTC)  # EST in winter
    assert not any(r["start_known"] for r in clock.values())
    assert all(r["as_of"] == r["day_start"] for r in clock.values())


def test_known_start_cuts_cutoff_minutes_before_first_pitch() -> None:
    start = datetime(2016, 4, 3, 17, 5, tzinfo=UTC)
    row = {"game_id": "g", "date": date(2016, 4, 3), "home_team_id": NYY, "start_time_utc": start}
    assert _clock([row], 60)["g"]["as_of"] == datetime(2016, 4, 3, 16, 5, tzinfo=UTC)
    assert _clock([row], 0)["g"]["as_of"] == start
    assert _clock([row], 90)["g"]["start_known"]
    # The result is still observed at the end of the local date, whatever the start time.
    assert _clock([row], 60)["g"]["result_observed_at"] == datetime(2016, 4, 4, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="cutoff_minutes"):
        _clock([row], -1)


def test_dst_switch_days_and_offsets() -> None:
    frame = pl.DataFrame(
        {"d": [date(2016, 3, 13), date(2016, 11, 6), date(2016, 3, 14)], "tz": ["America/New_York"] * 3}
    )
    out = frame.select(
        midnight=local_midnight(pl.col("d"), pl.col("tz")), offset=utc_offset_hours(pl.col("d"), pl.col("tz"))
    )
    # Midnight of the switch day is still on the old offset; noon already on the new one.
    assert out["midnight"].to_list() == [
        datetime(2016, 3, 13, 5, tzinfo=UTC),
        datetime(2016, 11, 6, 4, tzinfo=UTC),
        datetime(2016, 3, 14, 4, tzinfo=UTC),
    ]
    assert out["offset"].to_list() == [-4.0, -5.0, -4.0]
