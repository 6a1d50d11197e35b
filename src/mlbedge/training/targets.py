"""What the models predict, and which price each prediction is settled against.

Five targets, three of them markets a bet can be placed on:

- ``moneyline``: the home team wins. A final recorded as a tie (a called game) is a push: no bet,
  so no label. Settled at the moneyline price; the market's opinion at the cutoff is the de-vigged
  moneyline (``ml_home_prob``).
- ``total``: the game goes over the total **as quoted at bet time**. With SBRO that is the opening
  total (``total_open``, observed at the start of the game's local date, before every cutoff).
  Runs equal to the total are a push: no bet, no label (never a loss).
- ``runline``: the home team covers its run line **as quoted at bet time**. The run line is
  usually ±1.5 with the favourite giving the runs, so the line labelled and benchmarked follows
  from the moneyline at the cutoff: home -1.5 when the home team is favoured (``ml_home_prob >
  0.5``), else home +1.5. Books also quote the other way round (the home favourite at +1.5), so
  the model learns the handicap itself: every game is also fitted at the opposite handicap
  (:func:`handicap_rows`), and ``target_line`` decides which side gets -1.5. Half-run lines never
  push.
- ``total_runs`` and ``run_diff``: regressions of the game's total runs and of the home run
  differential (home minus away).
- ``close_moneyline`` and ``close_total``: the market's move between the open and the close, a
  regression on the logit scale: ``logit(close) - logit(open)`` of the de-vigged home win (the
  over at the opening total; only where the closing total equals it). These models see only what
  is known when the open is bettable (:data:`OPEN_TIME_SOURCES`: no price, movement or split
  observed after the open) plus the opening prices themselves (:data:`OPEN_INPUTS`); the close is
  their label only. ``outcome`` carries the game's binary result, to score "open + predicted move".

For each binary target the benchmark probabilities are the de-vigged opening and closing prices
**of the same event**: a closing total of 9 does not price "over 8.5", so the closing benchmark of
a total exists only where the closing total equals the quoted one (likewise the run line, whose
SBRO price is the only run-line price in most seasons and is a closing quote). Where a benchmark
prices another event it is null, never silently compared.

The labels, closing lines and SBRO's run line come from ``curated.games`` through
:func:`read_labels`; they are outcomes and benchmarks and are never model inputs. The one extra
model input a target adds is ``target_line`` (the total or the run-line handicap the prediction
is for), which is known before the cutoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from mlbedge.domain.odds import american_to_decimal_expr, fair_two_way
from mlbedge.features.io import copy_frame

# The opening prices as model inputs of the move targets (from the SBRO open columns, observed at
# the start of the local date): logits of the de-vigged home win and over, the overrounds, the
# total. One rule for training, the backtest and the API (mlbedge.features.opening).
from mlbedge.features.opening import OPEN_INPUTS, with_open_inputs

Kind = Literal["binary", "regression"]

# The model input a target with a line adds to the registry's features.
TARGET_LINE = "target_line"

# Labels and benchmark prices: read for training and evaluation only, never as features.
LABEL_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "home_score": pl.Int64(),
    "away_score": pl.Int64(),
    "home_ml_open": pl.Int64(),
    "away_ml_open": pl.Int64(),
    "home_ml_close": pl.Int64(),
    "away_ml_close": pl.Int64(),
    "total_open": pl.Float64(),
    "total_close": pl.Float64(),
    "over_odds_open": pl.Int64(),
    "under_odds_open": pl.Int64(),
    "over_odds_close": pl.Int64(),
    "under_odds_close": pl.Int64(),
    "home_rl": pl.Float64(),
    "home_rl_odds": pl.Int64(),
    "away_rl_odds": pl.Int64(),
}

# Columns every labelled frame carries besides the features (see :func:`label_frame`).
LABEL_COLUMNS: tuple[str, ...] = ("y", TARGET_LINE, "market_open", "market_close", "market_asof")
# The run line's labelled frame also carries the home margin (a label, never an input): the
# trainer prices the opposite handicap from it (:func:`handicap_rows`).
MARGIN = "label_home_margin"

# The feature sources known when the SBRO open is bettable (the start of the game's local date):
# scheduled facts, listed starters (by name and by id), earlier days' results, parks, and the
# player-level facts of earlier days and seasons -- who started and batted in earlier games, their
# team-game pitching rows, prior seasons' batting and pitching, players' hands, the game's park and
# plate umpire (crews are assigned before the series). Left out: every price, movement or split
# (snapshots observed after the open) and the game's own posted lineup (public two hours before
# first pitch, never at the start of the local date).
OPEN_TIME_SOURCES: frozenset[str] = frozenset(
    {
        "schedule",
        "starters",
        "results",
        "parks",
        "listed_starter_ids",
        "season_stats",
        "people",
        "game_starters",
        "lineups",
        "team_game_rows",
        "venue",
    }
)

# Beside the label of a move target: the game's binary result (home win / over the opening total)
# and the opening decimal prices of its two sides (home/over, away/under), to measure closing-line value.
OUTCOME = "outcome"
OPEN_PRICES: tuple[str, ...] = ("open_decimal_yes", "open_decimal_no")


@dataclass(frozen=True)
class Target:
    """One thing a model predicts.

    ``market_feature`` is the feature holding the market's de-vigged probability of the event at
    the cutoff (usable as the model's base score); ``use_init_score`` says whether the trainer
    starts from it by default. ``settled_against`` names the price a bet on it is settled at.
    ``params`` are LightGBM parameters that differ from the trainer's defaults for this target.
    """

    name: str
    kind: Kind
    description: str
    settled_against: str
    market_feature: str | None = None
    use_init_score: bool = False
    has_line: bool = False
    # A move target: open-time features and the opening prices only (see OPEN_TIME_SOURCES).
    open_time: bool = False
    params: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def objective(self) -> str:
        """The LightGBM objective."""
        return "binary" if self.kind == "binary" else "regression"


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "moneyline",
            "binary",
            "The home team wins (ties are pushes: no label).",
            "home_ml_open / away_ml_open (the opening moneyline, the price known before the cutoff)",
            market_feature="ml_home_prob",
            use_init_score=True,
        ),
        Target(
            "total",
            "binary",
            "Total runs go over the quoted total (total_open); runs equal to it are a push: no label.",
            "over_odds_open / under_odds_open at total_open",
            market_feature="total_over_prob",
            use_init_score=True,
            has_line=True,
        ),
        Target(
            "runline",
            "binary",
            "The home team covers its run line: -1.5 when favoured at the cutoff, else +1.5.",
            "home_rl_odds / away_rl_odds where home_rl equals the line (SBRO's only run-line price, "
            "a closing quote); a live book's run-line price otherwise",
            market_feature="rl_home_cover_prob",
            use_init_score=False,  # the run-line price at the cutoff exists for 2016 only
            has_line=True,
            # Chosen on the validation seasons 2012-2014 (benchmarks/runline_rate_study.py): the
            # same log loss as 0.01 (+0.0001, interval -0.0006..+0.0007) in half the boosting
            # rounds; 0.03 was worse (+0.0011, DM p 0.04).
            params={"learning_rate": 0.02},
        ),
        Target(
            "total_runs",
            "regression",
            "Total runs scored (home + away).",
            "not a market: informs the total",
            has_line=True,
        ),
        Target(
            "run_diff",
            "regression",
            "Home runs minus away runs.",
            "not a market: informs the moneyline and run line",
        ),
        Target(
            "close_moneyline",
            "regression",
            "The moneyline's move: logit(de-vigged close) - logit(de-vigged open) of the home win.",
            "home_ml_open / away_ml_open (bet at the open; judged by closing-line value)",
            open_time=True,
        ),
        Target(
            "close_total",
            "regression",
            "The total's move at the opening total: logit(close) - logit(open) of the over, where "
            "the closing total equals the opening one.",
            "over_odds_open / under_odds_open at total_open (bet at the open; judged by closing-line value)",
            has_line=True,
            open_time=True,
        ),
    )
}
MARKET_TARGETS: tuple[str, ...] = ("moneyline", "total", "runline")
MOVE_TARGETS: tuple[str, ...] = ("close_moneyline", "close_total")
# The market each move target's close strategy bets (at the opening price).
MOVE_MARKETS: dict[str, str] = {"close_moneyline": "moneyline", "close_total": "total"}


def get_target(name: str) -> Target:
    """A target by name (ValueError lists the known ones)."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None


def parse_targets(text: str | Sequence[str]) -> list[Target]:
    """``"moneyline,total"`` (or a list of names) as targets, in the order given, without repeats."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise ValueError("no target named; known: " + ", ".join(TARGETS))
    return [get_target(n) for n in dict.fromkeys(names)]


def read_labels(conn: psycopg.Connection, *, seasons: Sequence[int] | None = None) -> pl.DataFrame:
    """Scores and the opening/closing prices of every game (of ``seasons``), by ``game_id``."""
    where = sql.SQL(" WHERE season = ANY(%s)") if seasons is not None else sql.SQL("")
    params = [list(seasons)] if seasons is not None else None
    return copy_frame(conn, sql.SQL("(SELECT * FROM curated.games{}) g").format(where), LABEL_SCHEMA, params)


def _fair(frame: pl.DataFrame, a: str, b: str) -> np.ndarray:
    """De-vigged (multiplicative) probability of side ``a`` from the two American price columns."""
    fair_a, _ = fair_two_way(
        frame[a].cast(pl.Float64).to_numpy(allow_copy=True),
        frame[b].cast(pl.Float64).to_numpy(allow_copy=True),
    )
    return np.asarray(fair_a, dtype=np.float64)


def _logit(p: pl.Expr) -> pl.Expr:
    """Log odds of a probability column (null outside (0, 1))."""
    return pl.when((p > 0) & (p < 1)).then((p / (1 - p)).log())


def label_frame(
    features: pl.DataFrame, labels: pl.DataFrame, target: Target | str, asof: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The feature rows with the target's label, line and benchmark probabilities.

    Adds ``y`` (1/0 for binary targets, a number for regressions; null where the game has no
    result or pushes), ``target_line`` (the quoted total or run-line handicap; null for targets
    without a line), ``market_open`` and ``market_close`` (the de-vigged opening and closing
    probabilities of the same event; null where a price is missing or prices another line; for
    ``total_runs`` the quoted totals themselves), and ``market_asof``: the price quotable at the
    cutoff, the one a bet is placed at, from ``asof``
    (:func:`mlbedge.training.asof_market.read_asof_probabilities`; null without it). Rows keep the
    features' order.
    """
    from mlbedge.training.asof_market import market_asof

    target = get_target(target) if isinstance(target, str) else target
    frame = features.join(labels, on="game_id", how="left", suffix="_label")
    home, away = pl.col("home_score"), pl.col("away_score")
    decided = home.is_not_null() & away.is_not_null()
    open_ml = _fair(frame, "home_ml_open", "away_ml_open")
    close_ml = _fair(frame, "home_ml_close", "away_ml_close")
    frame = frame.with_columns(
        _ml_open=pl.Series(open_ml).fill_nan(None),
        _ml_close=pl.Series(close_ml).fill_nan(None),
        _over_open=pl.Series(_fair(frame, "over_odds_open", "under_odds_open")).fill_nan(None),
        _over_close=pl.Series(_fair(frame, "over_odds_close", "under_odds_close")).fill_nan(None),
        _rl_close=pl.Series(_fair(frame, "home_rl_odds", "away_rl_odds")).fill_nan(None),
    )
    null = pl.lit(None, pl.Float64)
    outcome = null  # the binary result beside a move target's label
    if target.name == "moneyline":
        line = null
        y = pl.when(decided & (home != away)).then((home > away).cast(pl.Float64))
        m_open, m_close = pl.col("_ml_open"), pl.col("_ml_close")
    elif target.name == "total":
        line = pl.col("total_open")
        runs = (home + away).cast(pl.Float64)
        y = pl.when(decided & line.is_not_null() & (runs != line)).then((runs > line).cast(pl.Float64))
        m_open = pl.when(line.is_not_null()).then(pl.col("_over_open"))
        m_close = pl.when(pl.col("total_close") == line).then(pl.col("_over_close"))
    elif target.name == "runline":
        favoured = pl.col("ml_home_prob")
        line = pl.when(favoured.is_not_null()).then(pl.when(favoured > 0.5).then(-1.5).otherwise(1.5))
        margin = (home - away).cast(pl.Float64) + line
        y = pl.when(decided & line.is_not_null() & (margin != 0)).then((margin > 0).cast(pl.Float64))
        # The opening run-line price: each book's first run-line quote (no SBRO open exists), not
        # the price at the cutoff (that one is market_asof).
        m_open = pl.when(pl.col("rl_home_line") == line).then(pl.col("rl_home_cover_prob_open"))
        m_close = pl.when(pl.col("home_rl") == line).then(pl.col("_rl_close"))
    elif target.name == "total_runs":
        line = pl.col("total_open")
        y = pl.when(decided).then((home + away).cast(pl.Float64))
        m_open, m_close = pl.col("total_open"), pl.col("total_close")
    elif target.name in MOVE_TARGETS:
        ml = target.name == "close_moneyline"
        line = null if ml else pl.col("total_open")
        runs = (home + away).cast(pl.Float64)
        m_open = pl.col("_ml_open") if ml else pl.when(line.is_not_null()).then(pl.col("_over_open"))
        m_close = (
            pl.col("_ml_close") if ml else pl.when(pl.col("total_close") == line).then(pl.col("_over_close"))
        )
        y = _logit(m_close) - _logit(m_open)
        outcome = (
            pl.when(decided & (home != away)).then((home > away).cast(pl.Float64))
            if ml
            else pl.when(decided & line.is_not_null() & (runs != line)).then((runs > line).cast(pl.Float64))
        )
    elif target.name == "run_diff":
        line = null
        y = pl.when(decided).then((home - away).cast(pl.Float64))
        m_open = m_close = null
    else:  # pragma: no cover - TARGETS and this function are written together
        raise ValueError(f"no labelling rule for target {target.name!r}")
    extra: list[str] = []
    if target.open_time:
        frame = with_open_inputs(frame).with_columns(
            outcome=outcome.cast(pl.Float64),
            open_decimal_yes=american_to_decimal_expr(pl.col("home_ml_open" if ml else "over_odds_open")),
            open_decimal_no=american_to_decimal_expr(pl.col("away_ml_open" if ml else "under_odds_open")),
        )
        extra = [*OPEN_INPUTS, OUTCOME, *OPEN_PRICES]
    labelled = frame.with_columns(
        y=y.cast(pl.Float64),
        target_line=line.cast(pl.Float64),
        market_open=m_open.cast(pl.Float64),
        market_close=m_close.cast(pl.Float64),
    )
    labelled = labelled.with_columns(market_asof=market_asof(labelled, target.name, asof))
    if target.name == "runline":
        margin = pl.when(decided).then((home - away).cast(pl.Float64)).alias(MARGIN)
        return labelled.select(*features.columns, *LABEL_COLUMNS, margin)
    return labelled.select(*features.columns, *LABEL_COLUMNS, *extra)


def open_time_features(feature_names: Sequence[str]) -> list[str]:
    """The registry features computed only from facts known when the open is bettable."""
    from mlbedge.features.registry import registry

    known = {f.name: f for f in registry()}
    return [n for n in feature_names if n in known and set(known[n].sources) <= OPEN_TIME_SOURCES]


def handicap_rows(labelled: pl.DataFrame) -> pl.DataFrame:
    """Run-line rows at both handicaps: each labelled game again at the opposite home line, with
    its label there (home covers ``-line`` when ``margin - line > 0``) and no market benchmark.

    A model fitted on these cannot ignore ``target_line``: covering +1.5 (losing by one at most) is
    always at least as likely as covering -1.5 (winning by two), and the model learns by how much.
    Frames without the margin (not the run line) come back unchanged.
    """
    if MARGIN not in labelled.columns:
        return labelled
    flipped = labelled.filter(pl.col(MARGIN).is_not_null() & pl.col(TARGET_LINE).is_not_null()).with_columns(
        pl.col(TARGET_LINE).neg(),
        y=pl.when(pl.col(MARGIN) - pl.col(TARGET_LINE) != 0)
        .then((pl.col(MARGIN) - pl.col(TARGET_LINE) > 0).cast(pl.Float64))
        .cast(pl.Float64),
        market_open=pl.lit(None, pl.Float64),
        market_close=pl.lit(None, pl.Float64),
    )
    return pl.concat([labelled, flipped.select(labelled.columns)])


def model_columns(feature_names: Sequence[str], target: Target | str) -> list[str]:
    """The model's input columns: the features, then ``target_line`` for targets with a line.

    A move target keeps only the open-time features and adds the opening prices (:data:`OPEN_INPUTS`).
    """
    target = get_target(target) if isinstance(target, str) else target
    names = [*open_time_features(feature_names), *OPEN_INPUTS] if target.open_time else list(feature_names)
    return [*names, TARGET_LINE] if target.has_line else names
