"""A leakage oracle that shares no code with the clock it checks.

:func:`observation_times` computes, game by game in plain Python (``datetime`` and ``zoneinfo``),
when each fact about a game is observed, written from the time rules in docs/features.md and
DESIGN.md alone -- it deliberately imports nothing from ``mlbedge.features.asof``:

- ``as_of`` = first pitch - cutoff when the start time is known, else midnight starting the
  game's local date (home team's zone);
- the SBRO opening line is observed at the start of the game's local date;
- a result is observed at the end of its local date (midnight after, home team's zone);
- a suspended game's result is observed at the end of the date it was completed on; where it was
  completed is not kept, so at the latest midnight of any park (Pacific);
- the closing line is observed at first pitch (unknown start: never before any cutoff);
- Pinnacle lines, live quotes and splits at their own ``observed_at``.

:func:`observed_only` then cuts the inputs down to what had been observed by a moment: a
database "as it stood" at a game's cutoff. Building the game from it must give exactly the row
the full build gives -- whatever the pipeline's own clock believes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from mlbedge.domain.teams import TEAMS
from mlbedge.features.pipeline import FeatureInputs

ZONES: dict[int, ZoneInfo] = {t.mlb_id: ZoneInfo(t.timezone) for t in TEAMS}
# The westernmost park zone: its midnight is the last one of any MLB date.
LAST_MIDNIGHT_ZONE = ZoneInfo("America/Los_Angeles")

OPENING = ["home_ml_open", "away_ml_open", "total_open", "over_odds_open", "under_odds_open"]
CLOSING = ["home_ml_close", "away_ml_close", "total_close", "over_odds_close", "under_odds_close"]
RUN_LINE = ["home_rl", "home_rl_odds", "away_rl_odds"]
_TS = pl.Datetime("us", "UTC")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """Midnight starting ``day`` in ``zone``, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def observation_times(games: pl.DataFrame, cutoff_minutes: int) -> pl.DataFrame:
    """Per game: ``game_id, as_of, day_start, result_observed_at, close_observed_at``.

    ``games`` needs ``game_id, date, home_team_id, start_time_utc`` and may carry
    ``completion_date`` (the date a suspended game was finished; null otherwise). Deliberately
    a Python loop over rows: an independent recount, not the pipeline's vectorised clock.
    """
    completion = (
        games["completion_date"].to_list() if "completion_date" in games.columns else [None] * games.height
    )
    rows = []
    for (game_id, day, home, start), finished in zip(
        games.select("game_id", "date", "home_team_id", "start_time_utc").iter_rows(), completion, strict=True
    ):
        zone = ZONES[int(home)]
        day_start = _midnight(day, zone)
        if finished is not None and finished != day:
            result = _midnight(finished + timedelta(days=1), LAST_MIDNIGHT_ZONE)
        else:
            result = _midnight(day + timedelta(days=1), zone)
        as_of = day_start if start is None else start.astimezone(UTC) - timedelta(minutes=cutoff_minutes)
        rows.append((game_id, as_of, day_start, result, None if start is None else start.astimezone(UTC)))
    return pl.DataFrame(
        rows,
        schema={
            "game_id": pl.String,
            "as_of": _TS,
            "day_start": _TS,
            "result_observed_at": _TS,
            "close_observed_at": _TS,
        },
        orient="row",
    )


def observed_only(
    inputs: FeatureInputs, clock: pl.DataFrame, cut: datetime, *, keep: str | None = None
) -> FeatureInputs:
    """``inputs`` as a database would have held them at ``cut``: nothing observed later.

    Games whose local day has not begun are not there at all; results observed after ``cut`` are
    missing, as are opening lines of later days, closing lines not yet observed, the SBRO run line
    (closing-ish: never observed before a first pitch), and every snapshot stamped after ``cut``.
    ``keep`` names a game whose schedule row stays even if its day has not begun (its facts go).
    """
    g = inputs.games.join(clock, on="game_id", how="left", maintain_order="left")
    g = g.filter((pl.col("day_start") <= cut) | (pl.col("game_id") == keep))
    late_result = pl.col("result_observed_at") > cut
    late_open = pl.col("day_start") > cut
    late_close = pl.col("close_observed_at").is_null() | (pl.col("close_observed_at") > cut)
    g = g.with_columns(
        *[
            pl.when(late_result).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("home_score", "away_score")
        ],
        *[pl.when(late_open).then(None).otherwise(pl.col(c)).alias(c) for c in OPENING if c in g.columns],
        *[pl.when(late_close).then(None).otherwise(pl.col(c)).alias(c) for c in CLOSING if c in g.columns],
        *[pl.lit(None, g.schema[c]).alias(c) for c in RUN_LINE if c in g.columns],
    ).drop(clock.columns[1:])

    def stamped(frame: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if frame is None else frame.filter(pl.col("observed_at") <= cut)

    return replace(
        inputs,
        games=g,
        pinnacle_lines=stamped(inputs.pinnacle_lines),
        quotes=stamped(inputs.quotes),
        splits=stamped(inputs.splits),
    )
