"""The price a bet is placed at: each market's de-vigged probability quotable at a game's ``as_of``.

Three benchmarks stand beside every model (:mod:`mlbedge.training.evaluation`):

- ``market_open``: the de-vigged SBRO opening line (observed at the start of the local date);
- ``market_asof``: the price quotable at ``as_of``, the one the backtest bets into -- per book the
  last snapshot observed at or before ``as_of``, SBRO's untimed opening line only where the start
  time is unknown (the backtest's offered-prices rule), averaged over the books quoting the same
  event. In the SBRO-only seasons that is the opening line itself; in 2016, where Pinnacle's
  time-stamped lines exist, it is Pinnacle's price at the cutoff;
- ``market_close``: the closing line (observed at first pitch).

A price of another line (a total of 9 for "over 8.5") prices another event and is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import psycopg

from mlbedge.features.asof import game_clock
from mlbedge.features.io import read_inputs
from mlbedge.features.prices import OPENING_COLUMNS, collect_snapshots, offered_quotes, priced

ASOF_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "market": pl.String(),
    "line": pl.Float64(),
    "market_asof": pl.Float64(),
}
# The market a binary target is settled in.
TARGET_MARKETS: dict[str, str] = {"moneyline": "moneyline", "total": "total", "runline": "runline"}


def asof_probabilities(targets: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """Per game, market and line: the mean de-vigged probability of side a (home, over) over the
    books whose quote is offered at ``as_of`` (:func:`mlbedge.features.prices.offered_quotes`, the
    backtest's and the API's rule), as :data:`ASOF_SCHEMA`.

    ``targets``: ``game_id, as_of, start_known``; ``snapshots``: priced market snapshots
    (:func:`mlbedge.features.prices.priced`), later ones included.
    """
    offered = offered_quotes(targets, snapshots)
    if offered.is_empty():
        return pl.DataFrame(schema=ASOF_SCHEMA)
    return (
        offered.group_by("game_id", "market", "line")
        .agg(pl.col("fair_a").mean().alias("market_asof"))
        .select((pl.col(c).cast(t) for c, t in ASOF_SCHEMA.items()))
        .sort("game_id", "market", "line", nulls_last=True)
    )


def read_asof_probabilities(
    conn: psycopg.Connection,
    features: pl.DataFrame,
    *,
    cutoff_minutes: int,
    seasons: Sequence[int] | None = None,
) -> pl.DataFrame:
    """:func:`asof_probabilities` of the feature rows' games, every price read from the database."""
    if features.is_empty():
        return pl.DataFrame(schema=ASOF_SCHEMA)
    inputs = read_inputs(
        conn, max_season=max(seasons) if seasons else None, line_games=features["game_id"].to_list()
    )
    games = inputs.games.lazy()
    clock = game_clock(games, cutoff_minutes)
    opening = games.select("game_id", *OPENING_COLUMNS).join(
        clock.select("game_id", "day_start"), on="game_id"
    )
    snapshots = collect_snapshots(
        opening,
        pinnacle_lines=inputs.pinnacle_lines,
        pinnacle_games=games.select("pin_game_no", "game_id").drop_nulls(),
        quotes=inputs.quotes,
    )
    wanted = features.select("game_id").lazy()
    priced_snapshots = priced(snapshots.join(wanted, on="game_id", how="semi").collect())
    return asof_probabilities(features.select("game_id", "as_of", "start_known"), priced_snapshots)


def market_asof(labelled: pl.DataFrame, target: str, asof: pl.DataFrame | None) -> pl.Series:
    """The ``market_asof`` column of ``labelled`` (rows of :func:`~mlbedge.training.targets.label_frame`
    before it is added): the as-of probability of the target's own event, null where none."""
    name = TARGET_MARKETS.get(target)
    if asof is None or name is None or asof.is_empty():
        return pl.Series("market_asof", [None] * labelled.height, dtype=pl.Float64)
    quoted = asof.filter(pl.col("market") == name)
    keys = labelled.select("game_id", pl.col("target_line").cast(pl.Float64).alias("line"))
    if name == "moneyline":
        joined = keys.join(
            quoted.select("game_id", "market_asof"), on="game_id", how="left", maintain_order="left"
        )
    else:
        joined = keys.join(
            quoted.select("game_id", "line", "market_asof"),
            on=["game_id", "line"],
            how="left",
            maintain_order="left",
        )
    return joined["market_asof"]
