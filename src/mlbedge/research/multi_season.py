"""Several test seasons in one walk-forward: each season backtested with models trained on every
season before it, and the numbers pooled.

``run_seasons(conn, [2010..2014], [2015..2020])`` is six :func:`~mlbedge.research.seasons.run_season`
calls (2015 trained on 2010-2014, 2016 on 2010-2015, ...) sharing one read of the features and,
through a :class:`~mlbedge.training.model_cache.ModelCache`, every model fitted before by a
backtest or by ``models evaluate`` on the same rows. Each season's block is exactly the document
of its single-season run; the pooled numbers use the same field names:

- forecasts: every test game of every season scored together (:func:`score_forecasts`);
- betting: every bet of every season together. Each season starts from the same bankroll, so the
  pooled ``final_bankroll`` and ``max_drawdown`` are those of the starting bankroll plus the
  seasons' profits in the order their results were observed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg

from mlbedge.betting.backtest import MARKETS, BacktestResult
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.verdict import verdict
from mlbedge.research.moves import move_summary
from mlbedge.research.seasons import SeasonBacktest, run_season, score_forecasts
from mlbedge.settings import get_settings
from mlbedge.skill import DEFAULT_CLOSE_MARGIN, DEFAULT_MAX_EDGE
from mlbedge.training.dataset import load_training_data
from mlbedge.training.model_cache import ModelCache


@dataclass
class MultiSeasonBacktest:
    """Test seasons each backtested on models of every earlier season, and their pooled numbers."""

    train_seasons: list[int]
    test_seasons: list[int]
    seasons: list[SeasonBacktest]
    bankroll: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pooled_result(self) -> BacktestResult:
        """Every season's bets and rounds as one backtest (each season began at ``bankroll``)."""
        bets = pl.concat([s.result.bets for s in self.seasons], how="diagonal_relaxed")
        rounds = pl.concat([s.result.rounds for s in self.seasons], how="diagonal_relaxed")
        return BacktestResult(
            bets=bets.sort("result_observed_at", "as_of", maintain_order=True),
            rounds=rounds.sort("as_of", maintain_order=True),
            initial_bankroll=self.bankroll,
            seconds=sum(s.result.seconds for s in self.seasons),
        )

    @property
    def predictions(self) -> pl.DataFrame:
        """Every test season's forecasts beside the market's."""
        return pl.concat([s.predictions for s in self.seasons], how="diagonal_relaxed")

    @property
    def moves(self) -> pl.DataFrame | None:
        """The close strategy's move forecasts of every test season (None for the outcome strategy)."""
        frames = [s.moves for s in self.seasons if s.moves is not None]
        return pl.concat(frames, how="diagonal_relaxed") if frames else None

    def to_json(self, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
        """The ``backtest --test-seasons --json`` document: what was run, the pooled numbers per
        market and ``all`` (the single-season field names), and ``seasons``: each season's own document."""
        first = self.seasons[0]
        per_season = {str(s.test_season): s.to_json(n_resamples=n_resamples, seed=seed) for s in self.seasons}
        forecasts = score_forecasts(self.predictions, n_resamples=n_resamples, seed=seed)
        betting = self.pooled_result.summary(n_resamples=n_resamples, seed=seed)
        doc: dict[str, Any] = {
            "test_seasons": self.test_seasons,
            "train_seasons": self.train_seasons,
            "feature_set_version": first.feature_set_version,
            "cutoff_minutes": first.cutoff_minutes,
            "strategy": first.strategy,
            **({"margin": first.margin} if first.margin is not None else {}),
            "initial_bankroll": self.bankroll,
            "policy": first.policy.model_dump(),
        }
        for name in MARKETS:
            modelled = any(name in s.models for s in self.seasons)
            doc[name] = {**forecasts.get(name, {}), **betting[name], "modelled": modelled}
            gates = {str(s.test_season): s.gates[name].as_dict() for s in self.seasons if name in s.gates}
            if gates:
                doc[name]["gate"] = pooled_gate(gates)
        moves = self.moves
        if moves is not None:
            summaries = move_summary(moves, threshold=first.margin, n_resamples=n_resamples, seed=seed)
            for name, summary in summaries.items():
                doc[name]["move"] = summary
        doc["all"] = betting["all"]
        doc["verdict"] = verdict(
            betting["all"], {m: doc[m]["gate"] for m in MARKETS if "gate" in doc[m]}, self.bankroll
        )
        doc["rounds"] = sum(d["rounds"] for d in per_season.values())
        doc["models"] = {
            "trained": sum(not t.get("cached", False) for s in self.seasons for t in s.training.values()),
            "from_cache": sum(
                bool(t.get("cached", False)) for s in self.seasons for t in s.training.values()
            ),
        }
        doc["timings_seconds"] = {k: round(v, 3) for k, v in self.timings.items()}
        doc["seasons"] = per_season
        return doc


def pooled_gate(by_season: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One market's gates over several test seasons (each judged on the seasons before it): open
    when every season's gate was, with each season's reason; the record's numbers stay per season."""
    passed = all(bool(g["passed"]) for g in by_season.values())
    measures = {g.get("measure", "log_loss") for g in by_season.values()}
    return {
        "passed": passed,
        "measure": measures.pop() if len(measures) == 1 else "log_loss",
        "reason": "; ".join(f"{season}: {g['reason']}" for season, g in by_season.items()),
        "seasons": sorted({s for g in by_season.values() for s in g.get("seasons") or []}),
        "difference": None,
        "ci": None,
        "by_season": dict(by_season),
    }


def season_windows(train_seasons: Sequence[int], test_seasons: Sequence[int]) -> list[tuple[list[int], int]]:
    """Per test season, the seasons it is trained on: every given season before it (training
    seasons and earlier test seasons). Raises ``ValueError`` when a training season is not before
    every test season."""
    train, tests = sorted(set(train_seasons)), sorted(set(test_seasons))
    if not train:
        raise ValueError("no training season given")
    if not tests:
        raise ValueError("no test season given")
    if train[-1] >= tests[0]:
        raise ValueError(
            f"training seasons must come before the test seasons: {train[0]}-{train[-1]} "
            f"and {tests[0]}-{tests[-1]} overlap"
        )
    return [(train + [t for t in tests if t < season], season) for season in tests]


def run_seasons(
    conn: psycopg.Connection,
    train_seasons: Sequence[int],
    test_seasons: Sequence[int],
    *,
    markets: Sequence[str] = MARKETS,
    policy: StakingPolicy | None = None,
    bankroll: float = 1000.0,
    model_params: Mapping[str, object] | None = None,
    cutoff_minutes: int | None = None,
    build: bool = True,
    cache: ModelCache | None = None,
    gate: bool = True,
    max_edge: float | None = DEFAULT_MAX_EDGE,
    strategy: str = "outcome",
    margin: float = DEFAULT_CLOSE_MARGIN,
) -> MultiSeasonBacktest:
    """Backtest each of ``test_seasons`` with models trained on every season before it (from the
    first training season on), as :func:`run_season` would one at a time; see the module notes.
    ``strategy`` and ``margin`` as for :func:`run_season` (``"close"``: the move models at the open)."""
    windows = season_windows(train_seasons, test_seasons)
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    policy = policy or StakingPolicy()
    started = time.perf_counter()
    missing = [
        s
        for _, s in windows
        if conn.execute("SELECT 1 FROM curated.games WHERE season = %s LIMIT 1", (s,)).fetchone() is None
    ]
    if missing:
        raise LookupError(
            f"season(s) {missing} have no games in curated.games; load their files with `mlbedge data load`"
        )
    everything = sorted({*windows[-1][0], windows[-1][1]})
    data = load_training_data(
        conn, seasons=everything, build=build, cutoff_minutes=cutoff, open_time=strategy == "close"
    )
    timings = {"features": time.perf_counter() - started}
    runs = [
        run_season(
            conn,
            train,
            season,
            markets=markets,
            policy=policy,
            bankroll=bankroll,
            model_params=model_params,
            cutoff_minutes=cutoff,
            build=False,
            cache=cache,
            data=data,
            gate=gate,
            max_edge=max_edge,
            strategy=strategy,
            margin=margin,
        )
        for train, season in windows
    ]
    for key in ("train", "load", "backtest", "score"):
        timings[key] = sum(r.timings.get(key, 0.0) for r in runs)
    timings["total"] = time.perf_counter() - started
    return MultiSeasonBacktest(
        train_seasons=sorted(set(train_seasons)),
        test_seasons=[s for _, s in windows],
        seasons=runs,
        bankroll=bankroll,
        timings=timings,
    )
