"""Time-ordered validation: folds by date, never shuffled, with a gap between training and test.

A :class:`Fold` is a test window (a season, or a run of days) and the training window before it:

- **expanding**: every game before ``test_start - gap_days``;
- **sliding**: only the last ``train_days`` days (or ``train_seasons`` seasons) of those.

Inside a training window the trainer splits again by date, never by row: the last dates are the
early-stopping set (:func:`time_ordered_split`) and contiguous date blocks give the out-of-fold
predictions the calibration is fitted on (:func:`time_blocks`). A date is never on both sides
of any split, so a doubleheader's two games always fall together.

:func:`run_walk_forward` trains one model per fold and target and returns the test predictions
beside the market's, plus a record of every game each model saw, so tests can prove that no
test game was in a model's training or early-stopping data.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.training.targets import LABEL_COLUMNS, OPEN_PRICES, OUTCOME, Target, handicap_rows, model_columns

if TYPE_CHECKING:
    from mlbedge.training.model_cache import ModelCache

Window = Literal["expanding", "sliding"]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Fold:
    """One test window and the training window before it (dates inclusive, ``train_end`` exclusive)."""

    name: str
    test_start: date
    test_end: date
    train_start: date | None
    train_end: date
    gap_days: int = 0

    def train_mask(self, dates: pl.Series) -> pl.Series:
        """Rows whose date is in the training window."""
        mask = dates < self.train_end
        if self.train_start is not None:
            mask = mask & (dates >= self.train_start)
        return mask

    def test_mask(self, dates: pl.Series) -> pl.Series:
        """Rows whose date is in the test window."""
        return (dates >= self.test_start) & (dates <= self.test_end)


def season_folds(
    frame: pl.DataFrame,
    test_seasons: Sequence[int],
    *,
    window: Window = "expanding",
    train_seasons: int | None = None,
    train_days: int | None = None,
    gap_days: int = 0,
) -> list[Fold]:
    """One fold per test season, its window from the dates in ``frame`` (columns ``season``, ``date``).

    A sliding window keeps the last ``train_seasons`` seasons before the test season, or the last
    ``train_days`` days before the gap; an expanding one keeps everything earlier.
    """
    if gap_days < 0:
        raise ValueError(f"gap_days must be >= 0, got {gap_days}")
    if window == "sliding" and train_seasons is None and train_days is None:
        raise ValueError("a sliding window needs train_seasons or train_days")
    bounds = (
        frame.group_by("season").agg(first=pl.col("date").min(), last=pl.col("date").max()).sort("season")
    )
    by_season = {row["season"]: (row["first"], row["last"]) for row in bounds.iter_rows(named=True)}
    folds = []
    for season in test_seasons:
        if season not in by_season:
            raise ValueError(f"test season {season} has no games; seasons present: {sorted(by_season)}")
        first, last = by_season[season]
        train_end = first - timedelta(days=gap_days)
        start: date | None = None
        if window == "sliding":
            if train_seasons is not None:
                earlier = [s for s in by_season if s < season][-train_seasons:]
                start = by_season[earlier[0]][0] if earlier else train_end
            else:
                assert train_days is not None
                start = train_end - timedelta(days=train_days)
        folds.append(Fold(str(season), first, last, start, train_end, gap_days))
    return folds


def day_fold(as_of: date, *, test_days: int, train_days: int | None, gap_days: int = 0) -> Fold:
    """The fold of a retraining cycle: test on the ``test_days`` before ``as_of``, train before that."""
    test_start = as_of - timedelta(days=test_days)
    train_end = test_start - timedelta(days=gap_days)
    start = None if train_days is None else train_end - timedelta(days=train_days)
    return Fold(f"to-{as_of.isoformat()}", test_start, as_of - timedelta(days=1), start, train_end, gap_days)


# ----------------------------------------------------------------------------------------------
# splits inside a training window


def _date_codes(dates: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Dates as sortable integers (days), whatever numpy/Polars type they arrive in."""
    array = np.asarray(dates)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[D]").astype(np.int64)
    return array.astype(np.int64)


def check_time_ordered(dates: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The dates as day numbers, after checking they never go backwards (rows sorted by date)."""
    codes = _date_codes(dates)
    if codes.size and np.any(np.diff(codes) < 0):
        i = int(np.argmax(np.diff(codes) < 0))
        raise ValueError(f"rows must be sorted by date: row {i + 1} is earlier than row {i}")
    return codes


def time_ordered_split(dates: npt.ArrayLike, valid_fraction: float) -> tuple[IntArray, IntArray]:
    """Positions of the earlier rows and of the last ``valid_fraction`` of rows, split between dates.

    The split point moves forward to the next change of date so that no date is on both sides.
    With fewer than two distinct dates there is nothing to validate on: everything is earlier.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction}")
    codes = check_time_ordered(dates)
    n = codes.size
    cut = int(np.floor(n * (1.0 - valid_fraction)))
    cut = int(np.searchsorted(codes, codes[min(cut, n - 1)], side="left")) if n else 0
    if cut == 0:
        return np.arange(n, dtype=np.int64), np.arange(0, dtype=np.int64)
    return np.arange(cut, dtype=np.int64), np.arange(cut, n, dtype=np.int64)


def time_blocks(dates: npt.ArrayLike, n_blocks: int) -> list[IntArray]:
    """``n_blocks`` contiguous, near-equal blocks of row positions, each boundary between two dates."""
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be at least 1, got {n_blocks}")
    codes = check_time_ordered(dates)
    n = codes.size
    edges = [0]
    for k in range(1, n_blocks):
        cut = int(np.searchsorted(codes, codes[min(n * k // n_blocks, n - 1)], side="left")) if n else 0
        edges.append(max(cut, edges[-1]))
    edges.append(n)
    return [np.arange(a, b, dtype=np.int64) for a, b in itertools.pairwise(edges) if b > a]


# ----------------------------------------------------------------------------------------------
# running a walk-forward


@dataclass
class FoldRun:
    """What one model of a walk-forward saw and scored."""

    target: str
    fold: Fold
    train_games: list[str]
    fit_games: list[str]
    early_stopping_games: list[str]
    calibration_games: list[str]
    test_games: list[str]
    best_iteration: int
    calibration: str
    seconds: float
    oof: dict[str, float] = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class WalkForwardResult:
    """Test predictions of every fold (one row per target and game) and the record of each model."""

    predictions: pl.DataFrame
    runs: list[FoldRun]
    seconds: float


PREDICTION_COLUMNS = (
    "target",
    "fold",
    "game_id",
    "season",
    "date",
    "y",
    "p_model",
    "p_raw",
    *LABEL_COLUMNS[2:],
)


def run_walk_forward(
    labelled: dict[str, pl.DataFrame],
    targets: Sequence[Target],
    folds: Sequence[Fold],
    feature_names: Sequence[str],
    *,
    model_params: dict[str, object] | None = None,
    cache: ModelCache | None = None,
    feature_set_version: str = "",
) -> WalkForwardResult:
    """Train one model per target and fold on the fold's training window; predict its test window.

    ``labelled`` maps a target name to its frame from :func:`~mlbedge.training.targets.label_frame`
    (sorted by date). Rows without a label are left out of training and of the test scores.
    ``model_params`` override the estimator's parameters for every target. With ``cache`` a model
    fitted before on the same rows and parameters (by this or by a backtest) is read back instead
    of trained, and predictions come from its serving form (the same numbers).
    """
    from mlbedge.training.trainer import MarketModel

    started = time.perf_counter()
    frames: list[pl.DataFrame] = []
    runs: list[FoldRun] = []
    for target in targets:
        data = labelled[target.name].filter(pl.col("y").is_not_null())
        columns = model_columns(feature_names, target)
        for fold in folds:
            step = time.perf_counter()
            train = data.filter(fold.train_mask(data["date"]))
            test = data.filter(fold.test_mask(data["date"]))
            if train.is_empty() or test.is_empty():
                raise ValueError(
                    f"fold {fold.name} of {target.name}: {train.height} training and {test.height} test games"
                )
            # The run line is fitted at both handicaps, as the trainer does (scored at the quoted one).
            fit = handicap_rows(train).filter(pl.col("y").is_not_null()).sort("date", "game_id")
            if cache is not None:
                run, p_raw, p_model = _cached_fold(
                    cache, train, fit, test, target, fold, feature_names, feature_set_version, model_params
                )
                run.seconds = time.perf_counter() - step
                runs.append(run)
                frames.append(_fold_predictions(test, target, fold, p_model, p_raw))
                continue
            model = MarketModel.for_target(target, **(model_params or {}))
            model.fit(fit.select(columns), fit["y"].to_numpy(), dates=fit["date"].to_numpy())
            # The model's row positions are those of the fitted rows (two per game on the run line).
            fitted = fit["game_id"]
            p_raw = model.predict_raw(test.select(columns))
            p_model = model.predict_proba(test.select(columns))[:, 1] if target.kind == "binary" else p_raw
            frames.append(_fold_predictions(test, target, fold, p_model, p_raw))
            runs.append(
                FoldRun(
                    target=target.name,
                    fold=fold,
                    train_games=train["game_id"].to_list(),
                    fit_games=fitted.gather(model.fit_index_).to_list(),
                    early_stopping_games=fitted.gather(model.valid_index_).to_list(),
                    calibration_games=fitted.gather(model.calibration_index_).to_list(),
                    test_games=test["game_id"].to_list(),
                    best_iteration=model.best_iteration_,
                    calibration=model.calibrator_.method,
                    seconds=time.perf_counter() - step,
                    oof=dict(model.calibration_report_),
                    importance=model.gain_importance(),
                    params=model.get_params(),
                )
            )
    predictions = pl.concat(frames, how="diagonal") if frames else pl.DataFrame()
    return WalkForwardResult(predictions, runs, time.perf_counter() - started)


def _fold_predictions(
    test: pl.DataFrame, target: Target, fold: Fold, p_model: npt.ArrayLike, p_raw: npt.ArrayLike
) -> pl.DataFrame:
    return test.select(
        pl.lit(target.name).alias("target"),
        pl.lit(fold.name).alias("fold"),
        "game_id",
        "season",
        "date",
        "y",
        pl.Series("p_model", p_model, dtype=pl.Float64),
        pl.Series("p_raw", p_raw, dtype=pl.Float64),
        "market_open",
        "market_close",
        "market_asof",
        # A move target's binary result, to score "open + predicted move".
        *([OUTCOME, *OPEN_PRICES] if target.open_time else []),
    )


def _cached_fold(
    cache: ModelCache,
    train: pl.DataFrame,
    fit: pl.DataFrame,
    test: pl.DataFrame,
    target: Target,
    fold: Fold,
    feature_names: Sequence[str],
    feature_set_version: str,
    model_params: dict[str, object] | None,
) -> tuple[FoldRun, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One fold's model from the cache (fitted now on a miss), its record and its test predictions."""
    fitted = cache.fit(fit, target, feature_names, feature_set_version, **(model_params or {}))
    model, record = fitted.model, fitted.record
    x = test.select(pl.col(c).cast(pl.Float64) for c in model.feature_names).to_numpy()
    p_raw = np.asarray(model.predict_raw(x), dtype=np.float64)
    p_model = np.asarray(model.predict_many(x), dtype=np.float64) if target.kind == "binary" else p_raw
    games = fit["game_id"]
    run = FoldRun(
        target=target.name,
        fold=fold,
        train_games=train["game_id"].to_list(),
        fit_games=games.gather(record["fit_index"]).to_list(),
        early_stopping_games=games.gather(record["valid_index"]).to_list(),
        calibration_games=games.gather(record["calibration_index"]).to_list(),
        test_games=test["game_id"].to_list(),
        best_iteration=int(record["best_iteration"]),
        calibration=str(record["calibration"]),
        seconds=0.0,
        oof=dict(record["oof"]),
        importance=dict(record["importance"]),
        params=dict(record["params"]),
    )
    return run, p_raw, p_model
