"""The time rules every family shares: when a game's cutoff is, and when each kind of fact is observed.

The one rule: a feature for game G uses only facts observed at or before

    as_of(G) = first_pitch(G) - cutoff                     when the start time is known (2016, live)
    as_of(G) = midnight starting G's local date, as UTC    when it is not (every other season)

"Local" is the home team's time zone (neutral-site games included: the listed home team's zone).
When the start is unknown the cutoff cannot be applied to it, so the whole game day is treated as
the future: only earlier dates count, and the SBRO opening line is the only price at hand.

Observation times of the facts (the right-hand side of every as-of join):

- a game's **result** (final score, and every statistic derived from it) is observed at the END of
  its local date: midnight after, in its home team's time zone. This is deliberately
  conservative: a doubleheader's game 2 never sees game 1's result, no game sees a same-day
  result, even in 2016 where start times would allow it. One consequence worth knowing: after a
  west-to-east trip with an unknown start time, a team's previous-day result (in the western park,
  observed at western midnight) is still in the future at eastern midnight, so that team's state
  is the one before it. It costs a little information and never leaks.
- a **suspended game's** result is observed at the end of the date it was COMPLETED on
  (``completion_date``), at the latest midnight of any park (Pacific: where it was finished is not
  kept). Everything derived from it -- team form, Elo, pitcher records -- counts it from then.
- the **SBRO opening line** is observed at the start of the game's local date (the moment the
  unknown-start ``as_of`` falls on): it is the only price known before the cutoff.
- **time-stamped snapshots** (Pinnacle lines, live quotes and splits) at their own ``observed_at``.
- the **schedule** and the **listed starters** are pre-game facts, known before any cutoff.
"""

from __future__ import annotations

import polars as pl

from mlbedge.domain.teams import TEAMS

UTC = "UTC"
TIMESTAMP = pl.Datetime("us", UTC)

# Unit conversions multiply by a reciprocal instead of dividing by a literal: Polars may divide a
# long column by a literal as a multiplication but a one-row column exactly, and a game's features
# must be bit-identical whether it is built alone (incremental) or with a whole season.
PER_MINUTE = 1.0 / 60.0
_HOURS_PER_MICROSECOND = 1.0 / 3_600_000_000.0
_MINUTES_PER_MICROSECOND = 1.0 / 60_000_000.0


def hours_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    """``later - earlier`` in hours, to the microsecond."""
    return (later - earlier).dt.total_microseconds().cast(pl.Float64) * _HOURS_PER_MICROSECOND


def minutes_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    """``later - earlier`` in minutes, to the microsecond."""
    return (later - earlier).dt.total_microseconds().cast(pl.Float64) * _MINUTES_PER_MICROSECOND


# One row per franchise: park time zone and coordinates (travel, body clock, local midnight).
PARKS = pl.DataFrame(
    {
        "team_id": [t.mlb_id for t in TEAMS],
        "tz": [t.timezone for t in TEAMS],
        "lat": [t.lat for t in TEAMS],
        "lon": [t.lon for t in TEAMS],
    },
    schema={"team_id": pl.Int64, "tz": pl.String, "lat": pl.Float64, "lon": pl.Float64},
)
TIME_ZONES: tuple[str, ...] = tuple(sorted(set(PARKS["tz"])))


def local_to_utc(naive: pl.Expr, tz: pl.Expr) -> pl.Expr:
    """A naive local datetime in the zone named by ``tz`` (per row), as a UTC timestamp.

    Polars converts time zones per literal zone, so this branches over the handful of park zones
    (a fixed set of six), never over rows. US midnights and noons are never in a DST gap.
    """
    branches = [
        naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone(UTC)
        for zone in TIME_ZONES
    ]
    expr = pl.when(tz == TIME_ZONES[0]).then(branches[0])
    for zone, branch in zip(TIME_ZONES[1:], branches[1:], strict=True):
        expr = expr.when(tz == zone).then(branch)
    return expr.otherwise(None).cast(TIMESTAMP)


def local_midnight(date: pl.Expr, tz: pl.Expr) -> pl.Expr:
    """Midnight at the start of ``date`` in zone ``tz``, as UTC."""
    return local_to_utc(date.cast(pl.Datetime("us")), tz)


def utc_offset_hours(date: pl.Expr, tz: pl.Expr) -> pl.Expr:
    """The zone's offset from UTC on ``date`` (at local noon), in hours (EDT is -4)."""
    noon = date.cast(pl.Datetime("us")) + pl.duration(hours=12)
    as_utc = local_to_utc(noon, tz).dt.replace_time_zone(None)
    return (noon - as_utc).dt.total_minutes().cast(pl.Float64) * PER_MINUTE


# The westernmost park zone: its midnight ends an MLB date last (a suspended game's completion).
LAST_MIDNIGHT_ZONE = "America/Los_Angeles"


def game_clock(games: pl.LazyFrame, cutoff_minutes: int) -> pl.LazyFrame:
    """Per game: ``as_of``, the start of its local day, when its result is observed, the home zone.

    ``games`` needs ``game_id, date, home_team_id, start_time_utc`` and may carry
    ``completion_date`` (a suspended game's). Columns out: ``game_id, as_of, day_start,
    result_date, result_observed_at, start_known, home_tz``; ``result_date`` is the date the
    result became known (the completion date of a suspended game, else the game's date).
    """
    if cutoff_minutes < 0:
        raise ValueError(f"cutoff_minutes must be >= 0, got {cutoff_minutes}")
    parks = PARKS.lazy().select(pl.col("team_id").alias("home_team_id"), pl.col("tz").alias("home_tz"))
    start = pl.col("start_time_utc").cast(TIMESTAMP)
    day_start = local_midnight(pl.col("date"), pl.col("home_tz"))
    has_completion = "completion_date" in games.collect_schema().names()
    completion = pl.col("completion_date") if has_completion else pl.lit(None, pl.Date)
    finished_later = pl.col("result_date") != pl.col("date")
    return (
        games.select(
            "game_id",
            "date",
            pl.col("home_team_id").cast(pl.Int64),
            "start_time_utc",
            pl.coalesce(completion.cast(pl.Date), pl.col("date")).alias("result_date"),
        )
        .join(parks, on="home_team_id", how="left")
        .with_columns(
            day_start=day_start,
            result_observed_at=pl.when(finished_later)
            .then(local_midnight(pl.col("result_date") + pl.duration(days=1), pl.lit(LAST_MIDNIGHT_ZONE)))
            .otherwise(local_midnight(pl.col("date") + pl.duration(days=1), pl.col("home_tz"))),
            start_known=start.is_not_null(),
        )
        .with_columns(
            as_of=pl.when(pl.col("start_known"))
            .then(start - pl.duration(minutes=cutoff_minutes))
            .otherwise(pl.col("day_start"))
        )
        .select(
            "game_id", "as_of", "day_start", "result_date", "result_observed_at", "start_known", "home_tz"
        )
    )


def max_time(*columns: str) -> pl.Expr:
    """The latest of several observation-time columns, ignoring nulls (null when all are null)."""
    return pl.max_horizontal(*columns)
