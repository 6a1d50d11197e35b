"""What an ordinary day looks like, learned once from the training window's feature rows.

Every check of :mod:`mlbedge.monitoring.checks` judges the recent rows against the training
seasons, never against a fixed threshold alone: a feature that is null on a third of the training
days may be null today; one that was never null may not. :func:`fit_reference` reads the training
rows once and keeps, per feature (:data:`DAY_STATS`):

- the share of training **days** (with at least :data:`MIN_DAY_GAMES` games) on which the feature
  was null in half or more of the games, null in all of them, or a single value in every game
  (a flag such as ``is_weekend`` is one value per day by design; ``elo_diff`` never is);
- the central range of its values (``lo``..``hi``: the 0.1% and 99.9% quantiles) and the share of
  training days on which half the values fell outside it (a change of unit shows up here);
- the quantile cut points of its drift bins (fixed at training time, as in
  :mod:`mlbedge.monitoring.drift`).

And for the sides check, the relation of the market's home price with the team-strength rating
(``logit(ml_home_prob) = a + b * logit(elo_home_win_prob) + noise``, fitted by least squares): the
market and the ratings agree about who is the better team and which side plays at home, so a
feed that swaps home and away contradicts them on every game.

The training rows themselves are kept (the columns the checks use) for the calendar-matched
drift baselines, which depend on the part of the season being checked.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from mlbedge.features.registry import registry
from mlbedge.monitoring.drift import feature_values, quantile_edges

MIN_DAY_GAMES = 5  # fewer games on a day say nothing about that day's nulls or constants
MIN_CONSTANT_GAMES = 8  # a day is "constant" only when this many games share one value
RANGE_QUANTILES = (0.001, 0.999)
SIDES_PRICE, SIDES_RATING = "ml_home_prob", "elo_home_win_prob"
DAY_STATS = (
    "half_null_days",
    "all_null_days",
    "constant_days",
    "outside_days",
    "null_share",
    "lo",
    "hi",
)


def logit(column: str | pl.Expr) -> pl.Expr:
    """``ln(p / (1 - p))`` of a probability column, clipped away from 0 and 1."""
    p = (pl.col(column) if isinstance(column, str) else column).clip(1e-6, 1 - 1e-6)
    return (p / (1.0 - p)).log()


def clock_features(patterns: str, names: list[str]) -> list[str]:
    """The features that are clocks by design (glob ``patterns``, comma-separated)."""
    globs = [p.strip() for p in patterns.split(",") if p.strip()]
    return [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]


@dataclass(frozen=True)
class SidesModel:
    """``logit(ml_home_prob) ~ a + b * logit(elo_home_win_prob)`` on the training rows."""

    a: float
    b: float
    sigma: float
    n_rows: int


@dataclass
class Reference:
    """An ordinary day, as the training window shows it (see the module)."""

    reference_id: str
    rows: pl.DataFrame
    features: list[str]
    clocks: list[str]
    day_stats: dict[str, dict[str, float]]
    day_flags: pl.DataFrame
    limits: dict[str, tuple[float, float]]
    edges: dict[str, tuple[float, ...]]
    sides: SidesModel | None
    n_days: int
    window_start: date | None = None
    window_end: date | None = None
    families: dict[str, str] = field(default_factory=dict)
    feature_set_version: str | None = None  # the rows checked must be of the same feature set

    @property
    def seasons(self) -> list[int]:
        """The training seasons."""
        return sorted(self.rows["season"].unique().to_list())

    def recent(self, rows: pl.DataFrame) -> dict[str, float]:
        """``name|stat`` -> the share of the days of ``rows`` showing it (see :func:`daily_flags`);
        empty when no day of ``rows`` has enough games."""
        flags = daily_flags(rows, self.features, self.limits)
        if flags.is_empty():
            return {}
        return {k: v for k, v in flags.select(pl.exclude("date", "_dos").mean()).row(0, named=True).items()}

    def usual(self, day_of_season: int, pad: int = 7) -> dict[str, dict[str, float | None]]:
        """The day-level rates of the training days within ``pad`` days of ``day_of_season``
        (the same part of the season); the whole training window's when none is that close."""
        near = self.day_flags.filter((pl.col("_dos") - day_of_season).abs() <= pad)
        if near.height < 10:
            return {n: dict(s) for n, s in self.day_stats.items()}
        flat = near.select(pl.exclude("date", "_dos").mean()).row(0, named=True)
        out: dict[str, dict[str, float | None]] = {n: dict(s) for n, s in self.day_stats.items()}
        for key, value in flat.items():
            name, stat = key.split("|", 1)
            out[name][stat] = value
        return out


def daily_flags(rows: pl.DataFrame, names: list[str], limits: dict[str, tuple[float, float]]) -> pl.DataFrame:
    """Per date with at least :data:`MIN_DAY_GAMES` games (columns ``date, _dos``), per feature
    ``name|stat`` as 1.0/0.0: ``half_null_days`` (null in half the games or more), ``all_null_days``,
    ``constant_days`` (one value across :data:`MIN_CONSTANT_GAMES` or more games; null when too
    few values to tell) and ``outside_days`` (half the values outside ``limits``)."""
    floats = rows.select(
        "date",
        pl.col("day_of_season").alias("_day"),
        *[pl.col(n).cast(pl.Float64).fill_nan(None) for n in names if n != "day_of_season"],
        *([pl.col("day_of_season").cast(pl.Float64)] if "day_of_season" in names else []),
    )
    per_day = floats.group_by("date").agg(
        pl.len().alias("_n"),
        pl.col("_day").min().cast(pl.Int32).alias("_dos"),
        *[pl.col(n).null_count().alias(f"{n}__null") for n in names],
        *[pl.col(n).drop_nulls().n_unique().alias(f"{n}__uniq") for n in names],
        *[
            ((pl.col(n) < lo) | (pl.col(n) > hi)).sum().alias(f"{n}__out")
            for n, (lo, hi) in limits.items()
            if n in names
        ],
    )
    n, big = pl.col("_n"), pl.col("_n") >= MIN_CONSTANT_GAMES
    exprs = []
    for name in names:
        nulls, uniq = pl.col(f"{name}__null"), pl.col(f"{name}__uniq")
        present = n - nulls
        exprs += [
            (nulls * 2 >= n).cast(pl.Float64).alias(f"{name}|half_null_days"),
            (nulls == n).cast(pl.Float64).alias(f"{name}|all_null_days"),
            pl.when(big & (present >= MIN_CONSTANT_GAMES))
            .then((uniq == 1).cast(pl.Float64))
            .alias(f"{name}|constant_days"),
        ]
        if name in limits:
            out = pl.col(f"{name}__out")
            exprs.append(
                ((out * 2 >= present) & (present >= MIN_DAY_GAMES))
                .cast(pl.Float64)
                .alias(f"{name}|outside_days")
            )
    return per_day.filter(n >= MIN_DAY_GAMES).select("date", "_dos", *exprs).sort("date")


def fit_reference(
    rows: pl.DataFrame,
    reference_id: str,
    *,
    clock_patterns: str,
    n_bins: int = 10,
    window_start: date | None = None,
    window_end: date | None = None,
    feature_set_version: str | None = None,
) -> Reference:
    """Learn an ordinary day from the training ``rows`` (stored feature rows: ``game_id, season,
    date`` and the registry's features)."""
    if rows.is_empty():
        raise ValueError(f"reference {reference_id!r}: the training window has no rows")
    reg = registry()
    names = [n for n in reg.names if n in rows.columns]
    missing = [c for c in ("season", "date", "day_of_season") if c not in rows.columns]
    if missing or not names:
        raise ValueError(f"reference {reference_id!r}: the training rows lack {missing or 'every feature'}")
    # Outside-range days need the quantiles first; floats so that NaN counts as null everywhere.
    rows = rows.select("game_id", "season", "date", *names).with_columns(
        pl.col(n).cast(pl.Float64).fill_nan(None) for n in names
    )
    q_lo, q_hi = RANGE_QUANTILES
    ranges = rows.select(
        *[pl.col(n).quantile(q_lo, "lower").alias(f"{n}__lo") for n in names],
        *[pl.col(n).quantile(q_hi, "higher").alias(f"{n}__hi") for n in names],
    ).row(0, named=True)
    limits = {n: (ranges[f"{n}__lo"], ranges[f"{n}__hi"]) for n in names if ranges[f"{n}__lo"] is not None}
    day_flags = daily_flags(rows, names, limits)
    n_days = day_flags.height
    if n_days == 0:
        raise ValueError(f"reference {reference_id!r}: no training day has {MIN_DAY_GAMES} games")
    null_shares = rows.select(pl.col(n).is_null().mean().alias(n) for n in names).row(0, named=True)
    flat = day_flags.select(pl.exclude("date", "_dos").mean()).row(0, named=True)
    stats: dict[str, dict[str, float]] = {}
    for name in names:
        entry = {k.split("|", 1)[1]: v for k, v in flat.items() if k.split("|", 1)[0] == name}
        entry["null_share"] = float(null_shares[name])
        entry["lo"], entry["hi"] = ranges[f"{name}__lo"], ranges[f"{name}__hi"]
        stats[name] = entry
    edges = {name: quantile_edges(feature_values(rows[name]), n_bins) for name in names}
    return Reference(
        reference_id=reference_id,
        rows=rows.with_columns(pl.col("day_of_season").cast(pl.Int32).alias("_dos")),
        features=names,
        clocks=clock_features(clock_patterns, names),
        day_stats=stats,
        day_flags=day_flags,
        limits=limits,
        edges=edges,
        sides=fit_sides(rows),
        n_days=n_days,
        window_start=window_start,
        window_end=window_end,
        families={f.name: f.family.value for f in reg if f.name in names},
        feature_set_version=feature_set_version,
    )


def fit_sides(rows: pl.DataFrame) -> SidesModel | None:
    """Least squares of the market's home logit on the rating's (None without both columns)."""
    if SIDES_PRICE not in rows.columns or SIDES_RATING not in rows.columns:
        return None
    xy = rows.select(x=logit(SIDES_RATING), y=logit(SIDES_PRICE)).drop_nulls()
    if xy.height < 100:
        return None
    x, y = xy["x"].to_numpy(), xy["y"].to_numpy()
    b, a = np.polyfit(x, y, 1)
    sigma = float(np.std(y - (a + b * x)))
    return SidesModel(float(a), float(b), max(sigma, 1e-3), xy.height)
