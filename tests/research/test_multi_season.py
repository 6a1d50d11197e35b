"""Several test seasons in one walk-forward: the same numbers as the single-season runs, and the
models trained once (a second run, and ``models evaluate``'s walk-forward, read them back).

Real 2014-2016 SBRO and Retrosheet files in a database of this module's own (the backtest builds
and stores features); small models so the module stays quick.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

from mlbedge.research.multi_season import run_seasons, season_windows
from mlbedge.research.seasons import run_season, score_forecasts
from mlbedge.training.dataset import load_training_data
from mlbedge.training.model_cache import LOG_FILE, ModelCache
from mlbedge.training.targets import get_target
from mlbedge.training.walk_forward import run_walk_forward, season_folds
from tests.conftest import DATA_DIR, create_database, drop_database

SEASONS = (2014, 2015, 2016)
MARKETS = ("moneyline", "total", "runline")
FAST: dict[str, object] = {
    "num_boost_round": 30, "early_stopping_rounds": 10, "num_threads": 1, "calibration_folds": 2,
}  # fmt: skip
# What a run's document holds besides its numbers: wall times and how each model was obtained.
NOT_NUMBERS = ("timings_seconds", "training", "models")


def _season_files(folder: str, pattern: str) -> list[Path]:
    files = sorted((DATA_DIR / folder).glob(pattern))
    return [p for p in files if int(re.findall(r"(\d{4})", p.name)[-1]) in SEASONS]


@pytest.fixture(scope="module")
def three_seasons() -> Iterator[str]:
    """A fresh database with the real 2014-2016 odds and game logs loaded and linked."""
    from mlbedge.games.link import rebuild_games
    from mlbedge.sources.historical.retrosheet import load_retrosheet_files
    from mlbedge.sources.historical.sbro import load_sbro_files
    from mlbedge.storage.migrations import migrate

    url = create_database()
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
            load_sbro_files(conn, _season_files("sbr", "mlb_odds_sbr_*.csv"))
            load_retrosheet_files(conn, _season_files("retrosheet", "GL*.TXT"))
            rebuild_games(conn)
            load_training_data(conn, seasons=list(SEASONS))  # builds and stores the features once
            conn.commit()
        yield url
    finally:
        drop_database(url)


def _numbers(doc: Any) -> Any:
    """The document without wall times and model provenance, at every level."""
    if isinstance(doc, dict):
        return {k: _numbers(v) for k, v in doc.items() if k not in NOT_NUMBERS}
    return doc


@pytest.fixture(scope="module")
def runs(three_seasons: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Single-season runs without a cache, then the two-season run twice on one cache folder."""
    root = tmp_path_factory.mktemp("model_cache")
    with psycopg.connect(three_seasons) as conn:
        singles = {
            # The gate off: these small models would close every market, and the engine is what is compared.
            season: run_season(conn, train, season, model_params=FAST, build=False, gate=False)
            for train, season in season_windows([2014], [2015, 2016])
        }
        first_cache = ModelCache(root)
        first = run_seasons(
            conn, [2014], [2015, 2016], model_params=FAST, build=False, cache=first_cache, gate=False
        )
        second_cache = ModelCache(root)
        second = run_seasons(
            conn, [2014], [2015, 2016], model_params=FAST, build=False, cache=second_cache, gate=False
        )
        data = load_training_data(conn, seasons=list(SEASONS), build=False)
    return {
        "root": root, "singles": singles, "first": first, "first_cache": first_cache,
        "second": second, "second_cache": second_cache, "data": data,
    }  # fmt: skip


def test_windows_train_each_season_on_every_earlier_one() -> None:
    assert season_windows([2010, 2011], [2013, 2012]) == [([2010, 2011], 2012), ([2010, 2011, 2012], 2013)]
    with pytest.raises(ValueError, match="must come before"):
        season_windows([2010, 2015], [2015])


def test_each_season_block_is_its_single_season_run(runs: dict[str, Any]) -> None:
    doc = runs["first"].to_json()
    assert doc["test_seasons"] == [2015, 2016] and doc["train_seasons"] == [2014]
    for season, single in runs["singles"].items():
        block = doc["seasons"][str(season)]
        expected = _numbers(single.to_json())
        assert block["train_seasons"] == list(range(2014, season))
        assert _numbers(block) == expected, season
        assert expected["moneyline"]["n_games"] > 1000
    assert sum(runs["singles"][s].to_json()["all"]["n_bets"] for s in (2015, 2016)) > 100


def test_pooled_numbers_are_every_season_together(runs: dict[str, Any]) -> None:
    doc = runs["first"].to_json()
    singles = [s.to_json() for s in runs["singles"].values()]
    forecasts = score_forecasts(pl.concat([s.predictions for s in runs["singles"].values()]))
    for market in MARKETS:
        pooled = doc[market]
        assert pooled["n_bets"] == sum(s[market]["n_bets"] for s in singles)
        assert pooled["staked"] == pytest.approx(sum(s[market]["staked"] for s in singles), rel=1e-12)
        assert pooled["profit"] == pytest.approx(
            sum(s[market]["profit"] for s in singles), rel=1e-9, abs=1e-9
        )
        assert pooled["final_bankroll"] == pytest.approx(doc["initial_bankroll"] + pooled["profit"])
        assert pooled["n_labelled"] == sum(s[market]["n_labelled"] for s in singles)
        assert pooled["n_games"] == forecasts[market]["n_games"] > 0
        if market != "runline":  # every season prices the same benchmarks: the pooled games are all of them
            assert pooled["n_games"] == sum(s[market]["n_games"] for s in singles)
        assert pooled["model"] == forecasts[market]["model"]
        # The same field names as a single season's document.
        assert set(pooled) == set(singles[0][market])
    assert set(doc["all"]) == set(singles[0]["all"])
    assert doc["all"]["n_bets"] == sum(s["all"]["n_bets"] for s in singles)


def test_second_run_trains_nothing_and_gives_the_same_numbers(runs: dict[str, Any]) -> None:
    first, second = runs["first_cache"], runs["second_cache"]
    assert (first.misses, first.hits) == (6, 0)  # 2 seasons x 3 markets, each trained once
    assert (second.misses, second.hits) == (0, 6)
    log = (runs["root"] / LOG_FILE).read_text().splitlines()
    assert [line.split()[1] for line in log] == ["miss"] * 6 + ["hit"] * 6
    assert runs["second"].to_json()["models"] == {"trained": 0, "from_cache": 6}
    assert _numbers(runs["second"].to_json()) == _numbers(runs["first"].to_json())


def test_evaluate_walk_forward_reads_the_backtest_models(runs: dict[str, Any]) -> None:
    """``models evaluate`` over the same seasons fits the same rows: every model comes from the cache,
    and its predictions are those of a walk-forward that trains them afresh."""
    data = runs["data"]
    targets = [get_target(m) for m in MARKETS]
    labelled = {t.name: data.labelled(t) for t in targets}
    folds = season_folds(data.features, [2015, 2016])
    cache = ModelCache(runs["root"])
    cached = run_walk_forward(
        labelled, targets, folds, data.feature_names, model_params=dict(FAST), cache=cache,
        feature_set_version=data.feature_set_version,
    )  # fmt: skip
    assert (cache.misses, cache.hits) == (0, 6)
    fresh = run_walk_forward(labelled, targets, folds, data.feature_names, model_params=dict(FAST))
    key = ["target", "game_id"]
    a, b = cached.predictions.sort(key), fresh.predictions.sort(key)
    assert a["game_id"].to_list() == b["game_id"].to_list()
    assert (a["p_model"] - b["p_model"]).abs().max() < 1e-12
    for x, y in zip(cached.runs, fresh.runs, strict=True):
        assert (x.fit_games, x.early_stopping_games, x.calibration_games) == (
            y.fit_games, y.early_stopping_games, y.calibration_games,
        )  # fmt: skip
        assert x.best_iteration == y.best_iteration


def test_a_changed_row_misses_the_cache(runs: dict[str, Any], tmp_path: Path) -> None:
    """The key covers the data: one corrected feature value is a new fit, not a stale model."""
    data = runs["data"]
    target = get_target("moneyline")
    rows = (
        data.labelled(target)
        .filter(pl.col("season") == 2014, pl.col("y").is_not_null())
        .sort("date", "game_id")
    )
    cache = ModelCache(tmp_path)
    cache.fit(rows, target, data.feature_names, data.feature_set_version, **FAST)
    name = next(c for c in data.feature_names if rows[c].dtype.is_float() and rows[c].null_count() == 0)
    changed = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(pl.col(name) + 1).otherwise(pl.col(name)).alias(name)
    )
    cache.fit(changed, target, data.feature_names, data.feature_set_version, **FAST)
    cache.fit(rows, target, data.feature_names, data.feature_set_version, **{**FAST, "num_boost_round": 31})
    assert (cache.misses, cache.hits) == (3, 0)
    cache.fit(rows, target, data.feature_names, data.feature_set_version, **FAST)
    assert cache.hits == 1
    # How many boosters are fitted at once is not part of the fit.
    cache.fit(rows, target, data.feature_names, data.feature_set_version, **{**FAST, "n_jobs": 1})
    assert (cache.misses, cache.hits) == (3, 2)


def test_cli_runs_the_seasons_and_reuses_its_models(three_seasons: str, tmp_path: Path) -> None:
    """``mlbedge backtest --test-seasons``: one JSON with each season and the pooled numbers, one
    report; run again on the same home it trains nothing (the command says so, the cache log too)."""
    from tests.betting.conftest import invoke

    home = tmp_path / "home"
    env = {
        "MLBEDGE_DATABASE_URL": three_seasons,
        "MLBEDGE_HOME": str(home),
        "MLBEDGE_DATA_DIR": str(DATA_DIR),
    }
    json_path, report_path = tmp_path / "out.json", tmp_path / "r.html"
    args = ["backtest", "--train-seasons", "2014", "--test-seasons", "2015-2016", "--rounds", "20", "--no-log",
            "--json", str(json_path), "--report", str(report_path)]  # fmt: skip
    first = invoke(args, env)
    assert "6 models trained, 0 from the cache" in first
    doc = json.loads(json_path.read_text())
    assert sorted(doc["seasons"]) == ["2015", "2016"] and doc["test_seasons"] == [2015, 2016]
    assert doc["all"]["n_bets"] == sum(d["all"]["n_bets"] for d in doc["seasons"].values())
    assert "mlbedge backtest 2015-2016" in report_path.read_text()
    second = invoke(args, env)
    assert "0 models trained, 6 from the cache" in second
    assert _numbers(json.loads(json_path.read_text())) == _numbers(doc)
    log = (home / "cache" / "models" / LOG_FILE).read_text().split()
    assert log.count("hit") == 6 and log.count("miss") == 6


def test_cli_close_strategy_bets_the_open_and_reports_the_move(three_seasons: str, tmp_path: Path) -> None:
    """``mlbedge backtest --strategy close --test-seasons``: the move models of the two markets with
    an opening price, each season judged by its own close gate (CLV), bets at SBRO's opening price
    only (no other book here), their CLV, ROI and drawdown as for the outcome strategy, and per
    market the move forecast (R², hit rate, open / open + move / close log loss)."""
    from tests.betting.conftest import invoke

    env = {"MLBEDGE_DATABASE_URL": three_seasons, "MLBEDGE_HOME": str(tmp_path / "home"),
           "MLBEDGE_DATA_DIR": str(DATA_DIR)}  # fmt: skip
    json_path = tmp_path / "close.json"
    output = invoke(
        ["backtest", "--train-seasons", "2014", "--test-seasons", "2015-2016", "--strategy", "close",
         "--rounds", "400", "--no-gate", "--no-log", "--json", str(json_path)],
        env,
    )  # fmt: skip
    assert "4 models trained" in output and "at the open (close strategy)" in output
    doc = json.loads(json_path.read_text())
    assert doc["strategy"] == "close" and doc["margin"] == 0.04
    assert not doc["runline"]["modelled"] and doc["runline"]["n_bets"] == 0
    for market in ("moneyline", "total"):
        move = doc[market]["move"]
        assert move["n_games"] > 1000 and move["r2"] is not None and move["r2_ci"][0] is not None
        assert move["log_loss_open"] is not None and move["log_loss_close"] < move["log_loss_open"]
        for season in ("2015", "2016"):
            gate = doc["seasons"][season][market]["gate"]
            assert gate["measure"] == "clv" and not gate["enabled"]
    bets = doc["seasons"]["2015"]["bets"] + doc["seasons"]["2016"]["bets"]
    assert bets and {b["book"] for b in bets} == {"sbro"}
    assert doc["all"]["n_bets"] == len(bets) == sum(d["all"]["n_bets"] for d in doc["seasons"].values())
    assert doc["all"]["clv_mean"] is not None and doc["all"]["max_drawdown"] is not None
