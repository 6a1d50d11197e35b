"""The LightGBM estimator: time-ordered early stopping, market base score, out-of-fold calibration.

:class:`MarketModel` follows scikit-learn's estimator contract: every parameter is set in
``__init__`` and stored as given, ``fit`` returns ``self``, and everything learnt ends in ``_``.
``fit`` takes the rows **sorted by date** and their dates; it never shuffles.

What ``fit`` does, for a binary target:

1. **Base score.** With ``use_init_score`` the booster starts from the market's log odds (the
   ``market_feature`` column, a de-vigged probability at the cutoff) and learns only the
   correction to it; where that price is missing it starts from the training base rate. The
   column stays a feature either way.
2. **Out-of-fold predictions.** The rows are cut into ``calibration_folds + 1`` contiguous date
   blocks; block ``i`` is predicted by a model trained (steps 3-4) on blocks ``0..i-1`` only.
3. **Early stopping** on a time-ordered inner split: the last ``valid_fraction`` of the training
   rows (whole dates) pick the number of rounds; they are never used to grow those trees.
4. **Refit** (``refit=True``): the booster is retrained on all its rows for that many rounds, so
   the most recent games inform the model too.
5. **Calibration** (:mod:`mlbedge.training.calibration`) chosen and fitted on the out-of-fold
   predictions of step 2, never on the final model's own training predictions.

Regression targets skip the base score and the calibration.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.base import BaseEstimator

from mlbedge.scoring import log_loss
from mlbedge.settings import Settings
from mlbedge.skill import Gate, close_gate, skill_gate
from mlbedge.training.artifact import ServingModel, init_scores, logit, raw_scores, sigmoid
from mlbedge.training.calibration import METHODS, CalibrationChoice, Calibrator, choose_calibrator
from mlbedge.training.targets import MOVE_MARKETS, OPEN_PRICES, Target, handicap_rows, model_columns
from mlbedge.training.walk_forward import check_time_ordered, time_blocks, time_ordered_split

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _matrix(x: pl.DataFrame | npt.ArrayLike) -> FloatArray:
    """Features as a float64 matrix, nulls as NaN."""
    if isinstance(x, pl.DataFrame):
        return x.select(pl.all().cast(pl.Float64)).to_numpy()
    return np.asarray(x, dtype=np.float64)


class MarketModel(BaseEstimator):
    """LightGBM for one target, optionally learning the correction to the market's probability.

    Parameters are LightGBM's (``learning_rate``, ``num_leaves``, ``min_data_in_leaf``,
    ``feature_fraction``, ``bagging_fraction``, ``bagging_freq``, ``lambda_l2``, ``max_bin``)
    plus: ``objective`` (``binary`` or ``regression``), ``market_feature`` and
    ``use_init_score`` (the base score), ``num_boost_round`` (upper bound on rounds),
    ``early_stopping_rounds``, ``valid_fraction`` (the early-stopping share), ``refit``,
    ``calibration`` (``auto`` chooses among none/Platt/isotonic by validation, or one of them),
    ``calibration_folds``, ``regression_record`` (a regression keeps an out-of-fold record),
    ``num_threads`` (LightGBM's threads per booster, 0: every core), ``n_jobs`` (boosters fitted
    side by side, 0: the cores LightGBM's threads leave free; the fitted model does not depend
    on it) and ``seed``.

    The defaults (small trees, strong regularisation, slow learning) were chosen by walk-forward
    on the validation seasons 2012-2014 only, never on the test seasons 2015-2020.

    One thread by default: on this 2-core machine, with anything else running, LightGBM's OpenMP
    threads spin against each other and a fit takes 3-15x longer than on one thread (measured).
    The cores are used instead by fitting the out-of-fold boosters and the final one side by side
    (they are independent, and LightGBM releases the GIL while it trains).
    """

    def __init__(
        self,
        objective: str = "binary",
        market_feature: str | None = None,
        use_init_score: bool = False,
        learning_rate: float = 0.01,
        num_leaves: int = 7,
        min_data_in_leaf: int = 400,
        feature_fraction: float = 0.7,
        bagging_fraction: float = 0.8,
        bagging_freq: int = 1,
        lambda_l2: float = 10.0,
        max_bin: int = 63,
        num_boost_round: int = 1500,
        early_stopping_rounds: int = 100,
        valid_fraction: float = 0.2,
        refit: bool = True,
        calibration: str = "auto",
        calibration_folds: int = 3,
        regression_record: bool = False,
        num_threads: int = 1,
        n_jobs: int = 0,
        seed: int = 0,
    ) -> None:
        self.objective = objective
        self.market_feature = market_feature
        self.use_init_score = use_init_score
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.bagging_freq = bagging_freq
        self.lambda_l2 = lambda_l2
        self.max_bin = max_bin
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.valid_fraction = valid_fraction
        self.refit = refit
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        # A regression fits its out-of-fold models only when a bet rests on it (a move model,
        # judged by the closing-line value of its record): three more fits per model otherwise.
        self.regression_record = regression_record
        self.num_threads = num_threads
        self.n_jobs = n_jobs
        self.seed = seed

    @classmethod
    def for_target(cls, target: Target, **overrides: Any) -> MarketModel:
        """An estimator with the target's objective, market column and parameters (``overrides`` win)."""
        params: dict[str, Any] = {
            "objective": target.objective,
            "market_feature": target.market_feature,
            "use_init_score": target.use_init_score,
            "regression_record": target.name in MOVE_MARKETS,
            **target.params,
            **overrides,
        }
        return cls(**params)

    # ------------------------------------------------------------------------------------------
    # fitting

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "feature_pre_filter": False,
            "verbosity": -1,
        }

    def _market_index(self, names: list[str]) -> int | None:
        if not (self.use_init_score and self.objective == "binary"):
            return None
        if self.market_feature is None:
            raise ValueError("use_init_score needs market_feature, the column of the market's probability")
        if self.market_feature not in names:
            raise ValueError(
                f"market_feature {self.market_feature!r} is not among the {len(names)} input columns"
            )
        return names.index(self.market_feature)

    def _fallback(self, target: FloatArray) -> float:
        """The base score where the market price is missing: the log odds of these rows' base rate."""
        if self._market_index_ is None:
            return 0.0
        return float(logit(float(np.clip(target.mean(), 1e-6, 1 - 1e-6))))

    def _train(
        self, x: FloatArray, y: FloatArray, init: FloatArray, codes: npt.NDArray[np.int64], names: list[str]
    ) -> tuple[lgb.Booster, int, IntArray, IntArray]:
        """One booster on these rows: early stopping on the last dates, then (optionally) a refit."""
        params = self._lgb_params()
        fit, valid = time_ordered_split(codes, self.valid_fraction)
        has_init = self._market_index_ is not None
        train_set = lgb.Dataset(
            x[fit], y[fit], init_score=init[fit] if has_init else None, feature_name=names, free_raw_data=True
        )
        if valid.size:
            valid_set = lgb.Dataset(
                x[valid], y[valid], init_score=init[valid] if has_init else None, reference=train_set
            )
            booster = lgb.train(
                params,
                train_set,
                num_boost_round=self.num_boost_round,
                valid_sets=[valid_set],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            best = max(int(booster.best_iteration or booster.current_iteration()), 1)
        else:
            booster = lgb.train(params, train_set, num_boost_round=self.num_boost_round)
            best = booster.current_iteration()
        if self.refit and valid.size:
            everything = lgb.Dataset(
                x, y, init_score=init if has_init else None, feature_name=names, free_raw_data=True
            )
            booster = lgb.train(params, everything, num_boost_round=best)
        else:
            # Keep exactly the chosen trees, so predicting needs no iteration argument.
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        return booster, best, fit, valid

    def _workers(self) -> int:
        """Boosters fitted at once: ``n_jobs``, or (0) the cores LightGBM's threads leave free."""
        if self.n_jobs > 0:
            return self.n_jobs
        cores = os.cpu_count() or 1
        return max(1, cores // self.num_threads) if self.num_threads > 0 else 1

    def _fit_boosters(
        self,
        x: FloatArray,
        target: FloatArray,
        init: FloatArray,
        codes: npt.NDArray[np.int64],
        names: list[str],
        seen: list[IntArray],
    ) -> tuple[tuple[lgb.Booster, int, IntArray, IntArray], list[tuple[lgb.Booster, float]]]:
        """The final booster on every row and one booster per out-of-fold block on its ``seen``
        rows (with the base score's fallback of those rows only), fitted side by side on
        ``n_jobs`` threads. Each booster is fitted exactly as alone, so the result is the same
        for any ``n_jobs``; the largest fits start first, so the threads finish together."""

        def fold(rows: IntArray) -> tuple[lgb.Booster, float]:
            # Even the base score's fallback comes from the seen rows only.
            fallback = self._fallback(target[rows])
            init_rows = init_scores(x[rows], self._market_index_, fallback)
            return self._train(x[rows], target[rows], init_rows, codes[rows], names)[0], fallback

        with ThreadPoolExecutor(max_workers=min(self._workers(), len(seen) + 1)) as pool:
            final = pool.submit(self._train, x, target, init, codes, names)
            largest_first = sorted(range(len(seen)), key=lambda i: -seen[i].size)
            futures = {i: pool.submit(fold, seen[i]) for i in largest_first}
            return final.result(), [futures[i].result() for i in range(len(seen))]

    def fit(
        self,
        X: pl.DataFrame | npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        dates: npt.ArrayLike,
        feature_names: list[str] | None = None,
    ) -> MarketModel:
        """Fit on rows sorted by date. ``X`` a Polars frame (its columns are the inputs) or a matrix
        with ``feature_names``; ``y`` 0/1 (binary) or numbers; ``dates`` one per row."""
        if self.calibration != "auto" and self.calibration not in METHODS:
            raise ValueError(f"calibration must be 'auto' or one of {METHODS}, got {self.calibration!r}")
        names = list(X.columns) if isinstance(X, pl.DataFrame) else list(feature_names or [])
        x = _matrix(X)
        target = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != target.size or x.shape[1] != len(names):
            raise ValueError(f"X is {x.shape}, y has {target.size} rows, {len(names)} column names given")
        if not np.all(np.isfinite(target)):
            raise ValueError("y must be finite: drop games without a label before fitting")
        codes = check_time_ordered(dates)
        if codes.size != target.size:
            raise ValueError(f"one date per row is needed, got {codes.size} dates for {target.size} rows")
        binary = self.objective == "binary"
        if binary and not np.isin(target, (0.0, 1.0)).all():
            raise ValueError("a binary target takes the values 0 and 1 only")
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        self._market_index_ = self._market_index(names)
        self.init_fallback_ = self._fallback(target)
        init = init_scores(x, self._market_index_, self.init_fallback_)

        # Out-of-fold predictions for the calibration: block i predicted by a model of blocks < i.
        self.oof_folds_: list[tuple[IntArray, IntArray]] = []
        self.calibration_index_ = np.arange(0, dtype=np.int64)
        self.oof_probability_ = np.empty(0, dtype=np.float64)
        self.oof_outcome_ = np.empty(0, dtype=np.float64)
        self.oof_market_ = np.empty(0, dtype=np.float64)
        choice: CalibrationChoice | None = None
        self.calibration_report_: dict[str, float] = {}
        record = self.calibration_folds > 0 and (binary or self.regression_record)
        blocks = time_blocks(codes, self.calibration_folds + 1) if record else []
        folds = [(np.concatenate(blocks[:i]), blocks[i]) for i in range(1, len(blocks))]
        final, fitted = self._fit_boosters(x, target, init, codes, names, [seen for seen, _ in folds])
        if record:
            oof_p: list[FloatArray] = []
            for (seen, block), (booster, fallback) in zip(folds, fitted, strict=True):
                raw = raw_scores(booster, x[block], self._market_index_, fallback)
                oof_p.append(sigmoid(raw) if binary else raw)
                self.oof_folds_.append((seen, block))
            if oof_p:
                self.calibration_index_ = np.concatenate([b for _, b in self.oof_folds_])
                p = np.concatenate(oof_p)
                outcome = target[self.calibration_index_]
                # The out-of-sample record (raw, as the calibration sees it) beside the market's
                # price on the same rows: what the betting skill gate judges the model on. A
                # regression's record holds its predicted values (a move model's: the predicted
                # move, judged by the closing-line value of the bets it implies).
                self.oof_probability_ = p
                self.oof_outcome_ = outcome.astype(np.float64)
                self.oof_market_ = (
                    x[self.calibration_index_, self._market_index_].astype(np.float64)
                    if self._market_index_ is not None
                    else np.full(p.size, np.nan)
                )
            if oof_p and not binary:
                err = p - outcome
                spread = float(np.sum((outcome - outcome.mean()) ** 2))
                self.calibration_report_ = {
                    "oof_rmse": float(np.sqrt(np.mean(err**2))),
                    "oof_r2": 1.0 - float(np.sum(err**2)) / spread if spread > 0 else float("nan"),
                }
            elif oof_p:
                methods = METHODS if self.calibration == "auto" else (self.calibration,)  # type: ignore[assignment]
                choice = choose_calibrator(p, outcome, methods=methods)  # type: ignore[arg-type]
                self.calibration_report_ = {
                    "oof_log_loss_raw": log_loss(p, outcome),
                    **choice.report(),
                }
                for k, (fold_p, (_, block)) in enumerate(zip(oof_p, self.oof_folds_, strict=True)):
                    self.calibration_report_[f"oof_fold{k + 1}_log_loss"] = log_loss(fold_p, target[block])
        self.calibrator_ = choice.calibrator if choice is not None else Calibrator("none")

        self.booster_, self.best_iteration_, self.fit_index_, self.valid_index_ = final
        if self.refit and self.valid_index_.size:
            self.fit_index_ = np.arange(target.size, dtype=np.int64)
        gains = self.booster_.feature_importance(importance_type="gain")
        self.feature_importances_ = np.asarray(gains, dtype=np.float64)
        self.n_train_ = int(target.size)
        return self

    # ------------------------------------------------------------------------------------------
    # predicting

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise RuntimeError("this MarketModel is not fitted yet; call fit first")

    def _inputs(self, X: pl.DataFrame | npt.ArrayLike) -> FloatArray:
        self._check_fitted()
        if isinstance(X, pl.DataFrame):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise ValueError(f"X lacks the model's input columns {missing[:5]}")
            return _matrix(X.select(self.feature_names_in_))
        x = _matrix(X)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} columns, got shape {x.shape}")
        return x

    def predict_raw(self, X: pl.DataFrame | npt.ArrayLike) -> FloatArray:
        """Uncalibrated probabilities (binary) or predicted values (regression)."""
        scores = raw_scores(self.booster_, self._inputs(X), self._market_index_, self.init_fallback_)
        return sigmoid(scores) if self.objective == "binary" else scores

    def predict_proba(self, X: pl.DataFrame | npt.ArrayLike) -> FloatArray:
        """Calibrated ``[P(0), P(1)]`` per row (binary targets)."""
        self._check_fitted()
        if self.objective != "binary":
            raise ValueError("predict_proba is for binary targets; use predict")
        p = self.calibrator_(self.predict_raw(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pl.DataFrame | npt.ArrayLike) -> FloatArray:
        """Predicted class (binary: calibrated probability > 0.5) or value (regression)."""
        if self.objective == "binary":
            return (self.predict_proba(X)[:, 1] > 0.5).astype(np.float64)
        return self.predict_raw(X)

    # ------------------------------------------------------------------------------------------
    # what it learnt

    def gain_importance(self) -> dict[str, float]:
        """Total gain per input column, largest first."""
        self._check_fitted()
        pairs = sorted(
            zip(self.feature_names_in_, self.feature_importances_.tolist(), strict=True),
            key=lambda kv: -kv[1],
        )
        return {k: float(v) for k, v in pairs}

    def to_serving(self, meta: dict[str, Any] | None = None) -> ServingModel:
        """The fitted model as a :class:`~mlbedge.training.artifact.ServingModel` (same predictions)."""
        self._check_fitted()
        return ServingModel(
            booster=self.booster_,
            feature_names=list(self.feature_names_in_),
            kind="binary" if self.objective == "binary" else "regression",
            calibrator=self.calibrator_,
            market_index=self._market_index_,
            init_fallback=self.init_fallback_,
            meta=dict(meta or {}),
        )


# ----------------------------------------------------------------------------------------------
# one target on one training window


# The markets a bet is placed on: their models carry a skill gate.
BET_MARKETS = ("moneyline", "total", "runline")


@dataclass
class TrainedModel:
    """A fitted model of one target with what it was trained on (for logging and the registry)."""

    target: Target
    model: MarketModel
    feature_set_version: str
    train_start: date
    train_end: date  # the last date trained on (inclusive)
    seasons: list[int]
    n_train: int
    seconds: float
    games: list[str] = field(default_factory=list)
    # The game of each training row, in the model's row order (a run-line game has two rows).
    row_games: list[str] = field(default_factory=list, repr=False)
    # A move model's training rows' opening prices (``market_open`` and :data:`OPEN_PRICES`), in
    # the model's row order: its out-of-fold record is judged by the CLV of bets at them.
    row_prices: pl.DataFrame | None = field(default=None, repr=False)
    _gate: Gate | None = field(default=None, repr=False)

    def meta(self) -> dict[str, Any]:
        """What the model files and the registry record about it."""
        return {
            "target": self.target.name,
            "kind": self.target.kind,
            "feature_set_version": self.feature_set_version,
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "seasons": self.seasons,
            "n_train": self.n_train,
            "settled_against": self.target.settled_against,
            "calibration": self.model.calibrator_.method,
            "best_iteration": self.model.best_iteration_,
            **({"skill_gate": self.skill_gate().as_dict()} if self.gated else {}),
        }

    @property
    def gated(self) -> bool:
        """Whether a bet rests on this model, so it carries a skill gate: a market's model, or a move
        model (the close strategy's, judged by closing-line value)."""
        return self.target.name in BET_MARKETS or self.target.name in MOVE_MARKETS

    def skill_gate(self) -> Gate:
        """The betting skill gate of this model's market, judged on its out-of-fold record (every
        training season comes before any game it will bet); a move model's by the closing-line
        value of the close strategy's bets (:func:`mlbedge.skill.close_gate`). Computed once."""
        if self._gate is None:
            if self.target.name in MOVE_MARKETS:
                self._gate = close_gate(self.oof_record(), MOVE_MARKETS[self.target.name])
            else:
                self._gate = skill_gate(self.oof_record(), self.target.name)
        return self._gate

    def oof_record(self) -> pl.DataFrame:
        """The model's out-of-fold record: ``game_id, season, p_model, p_market, y`` per game the
        calibration saw (each predicted by a model of earlier dates only). A move model's
        (:data:`mlbedge.skill.CLOSE_RECORD_SCHEMA`): its predicted and actual moves, the de-vigged
        opening probability and the decimal opening odds of both sides (from :attr:`row_prices`)."""
        index = self.model.calibration_index_
        rows = self.row_games or self.games
        prices = self.row_prices
        schema: dict[str, pl.DataType] = {
            "game_id": pl.String(), "season": pl.Int64(), "p_model": pl.Float64(),
            "p_market": pl.Float64(), "y": pl.Float64(),
        }  # fmt: skip
        if prices is not None:
            schema = {**schema, **{c: pl.Float64() for c in OPEN_PRICES}}
        if index.size == 0 or index.size != self.model.oof_probability_.size or len(rows) <= int(index.max()):
            return pl.DataFrame(schema=schema)
        games = pl.Series("game_id", rows)[index]
        record = pl.DataFrame(
            {
                "game_id": games,
                "season": games.str.slice(0, 4).cast(pl.Int64),
                "p_model": self.model.oof_probability_,
                "p_market": self.model.oof_market_,
                "y": self.model.oof_outcome_,
            }
        ).with_columns(pl.col("p_market").fill_nan(None))
        if prices is None:
            return record
        # A move model has no market column among its inputs: its price is the de-vigged open.
        opened = prices[index]
        return record.with_columns(
            p_market=opened["market_open"], **{c: opened[c] for c in OPEN_PRICES}
        ).select(list(schema))

    def to_serving(self) -> ServingModel:
        """The serving form, carrying :meth:`meta`."""
        return self.model.to_serving(self.meta())


def model_params(settings: Settings, rounds: int | None = None) -> dict[str, object]:
    """The trainer's keyword arguments the settings decide: its threads, its boosters fitted at once
    and ``rounds`` (a cap on boosting rounds) when given. Every command that trains takes them from here."""
    params: dict[str, object] = {"num_threads": settings.train_num_threads, "n_jobs": settings.train_jobs}
    if rounds is not None:
        params["num_boost_round"] = rounds
    return params


def fit_target(
    labelled: pl.DataFrame,
    target: Target,
    feature_names: list[str] | tuple[str, ...],
    feature_set_version: str,
    **params: Any,
) -> TrainedModel:
    """Fit ``target`` on every labelled row of ``labelled`` (already cut to the training window);
    the run line at both handicaps (:func:`mlbedge.training.targets.handicap_rows`)."""
    started = time.perf_counter()
    rows = handicap_rows(labelled).filter(pl.col("y").is_not_null()).sort("date", "game_id")
    if rows.is_empty():
        raise ValueError(f"no labelled games to train {target.name} on")
    columns = model_columns(list(feature_names), target)
    model = MarketModel.for_target(target, **params)
    model.fit(rows.select(columns), rows["y"].to_numpy(), dates=rows["date"].to_numpy())
    return TrainedModel(
        target=target,
        model=model,
        feature_set_version=feature_set_version,
        train_start=rows["date"].min(),  # type: ignore[arg-type]
        train_end=rows["date"].max(),  # type: ignore[arg-type]
        seasons=sorted(rows["season"].unique().to_list()),
        n_train=rows["game_id"].n_unique(),  # games, not rows: the run line has two per game
        seconds=time.perf_counter() - started,
        games=rows["game_id"].unique(maintain_order=True).to_list(),
        row_games=rows["game_id"].to_list(),
        row_prices=row_prices(rows, target),
    )


def row_prices(rows: pl.DataFrame, target: Target) -> pl.DataFrame | None:
    """A move target's fitted rows' opening prices, in row order (None for other targets)."""
    if not target.open_time:
        return None
    return rows.select(pl.col(c).cast(pl.Float64) for c in ("market_open", *OPEN_PRICES))
