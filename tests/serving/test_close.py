"""The close strategy in the API: the predicted close per game, its recommendations, and their
parity with the backtest at the open.

Small move models (``close_moneyline``, ``close_total``) are trained on the 2016 rows built at the
open before 2016-08-01 and registered under a model prefix of this module's own (so the session's
other apps serve no move model). The parity slate is one round of the served date at the open --
the games of one home time zone, decided together at its local midnight -- whose served rows hold
exactly the move models' inputs at the open (the Pacific zone's midnight comes after every other
park's, so no result reaches its rows between the open and the cutoff): their rows alone are put
in Redis, served by the real app, and the same games, rows at the open and prices go through the
backtest engine with the app's own move models, staking policy and margin.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import psycopg
import pytest

from mlbedge.betting.backtest import (
    BacktestInputs,
    CloseStrategy,
    Context,
    at_the_open,
    load_inputs,
    move_probabilities,
    run_backtest,
)
from mlbedge.serving.slate import games_on
from mlbedge.settings import Settings
from mlbedge.training.targets import model_columns
from tests.serving.conftest import (
    FAST,
    SEASON,
    SLATE_DAY,
    TRAIN_END,
    ServedApp,
    ServingDb,
    StartingMlflow,
    base_settings,
    stored_rows,
)

BANKROLL = 2_500.0
# Move models strong enough to predict moves that clear the vig on a small slate.
MOVE_FAST = {**FAST, "num_boost_round": 400, "early_stopping_rounds": 400}
MARGIN = 0.0  # every side the model expects the close to move toward is a candidate


@dataclass(frozen=True)
class CloseModels:
    prefix: str
    tracking_uri: str
    open_rows: pl.DataFrame  # every 2016 row built at the open


@pytest.fixture(scope="module")
def close_models(
    mlflow: StartingMlflow, serving_db: ServingDb, tmp_path_factory: pytest.TempPathFactory
) -> CloseModels:
    """The two move models trained on 2016's rows at the open before TRAIN_END, registered (version
    1, champion) under a prefix of their own."""
    from mlbedge.training import registry
    from mlbedge.training.dataset import load_training_data
    from mlbedge.training.targets import get_target
    from mlbedge.training.trainer import fit_target

    with psycopg.connect(serving_db.url) as conn:
        data = load_training_data(conn, seasons=[SEASON], build=False, cutoff_minutes=60, open_time=True)
    assert data.open_features is not None
    server = mlflow.server()
    prefix = f"cls{uuid.uuid4().hex[:8]}"
    settings = base_settings(
        tmp_path_factory.mktemp("close_home"), mlflow_tracking_uri=server.url, model_name_prefix=prefix
    )
    for name in ("close_moneyline", "close_total"):
        target = get_target(name)
        frame = data.labelled(target).filter(pl.col("date") < TRAIN_END)
        trained = fit_target(frame, target, data.feature_names, data.feature_set_version, **MOVE_FAST)
        assert (
            registry.register(registry.log_training(trained, settings=settings), trained, settings=settings)
            == "1"
        )
    return CloseModels(prefix, server.url, data.open_features)


def _move_inputs(frame: pl.DataFrame) -> list[str]:
    from mlbedge.features.registry import registry

    names = set()
    for target in ("close_moneyline", "close_total"):
        names |= {c for c in model_columns(registry().names, target) if c in frame.columns}
    return sorted(names)


@pytest.fixture(scope="module")
def open_round(serving_db: ServingDb, close_models: CloseModels) -> pl.DataFrame:
    """The served rows of the slate day's largest round at the open whose move-model inputs are the
    same at the open and at the cutoff."""
    day = serving_db.features.filter(pl.col("date") == SLATE_DAY)
    with psycopg.connect(serving_db.url) as conn:
        games = games_on(conn, SLATE_DAY, 60)
    clock = games.select("game_id", "day_start")
    inputs = _move_inputs(day)
    at_open = (
        close_models.open_rows.filter(pl.col("date") == SLATE_DAY).select("game_id", *inputs).sort("game_id")
    )
    served = day.select("game_id", *inputs).sort("game_id")
    same = [
        gid
        for gid, a, b in zip(
            at_open["game_id"], at_open.drop("game_id").rows(), served.drop("game_id").rows(), strict=True
        )
        if a == b
    ]
    zones = (
        clock.filter(pl.col("game_id").is_in(same))
        .group_by("day_start")
        .agg("game_id")
        .sort(pl.col("game_id").list.len(), descending=True)
    )
    ids = zones["game_id"][0].to_list()
    assert len(ids) >= 3, "the parity round needs several games"
    # The round is complete: every game of that zone's midnight has the same inputs either way.
    zone = clock.filter(pl.col("day_start") == zones["day_start"][0])["game_id"]
    assert sorted(zone.to_list()) == sorted(ids)
    return day.filter(pl.col("game_id").is_in(ids)).sort("game_id")


@pytest.fixture
def round_prefix(open_round: pl.DataFrame, serving_db: ServingDb) -> Iterator[str]:
    with stored_rows("close", serving_db.feature_set_version, open_round) as prefix:
        yield prefix


def _settings(make_settings: Callable[..., Settings], close_models: CloseModels, **extra: Any) -> Settings:
    return make_settings(model_name_prefix=close_models.prefix, **extra)


def test_the_backtest_at_the_open_and_the_api_make_the_same_close_bets(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    serving_db: ServingDb,
    close_models: CloseModels,
    open_round: pl.DataFrame,
    round_prefix: str,
) -> None:
    """RULE: the close strategy's bets in the backtest and the API's close recommendations for the
    same slate agree: same sides, books, prices, lines, stakes, probabilities and edges."""
    app = serve(
        _settings(make_settings, close_models, store_key_prefix=round_prefix, recommend_close_margin=MARGIN)
    )
    with app.client() as c:
        response = c.get(
            "/v1/recommendations",
            params={"date": SLATE_DAY.isoformat(), "bankroll": BANKROLL, "strategy": "close"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["strategy"] == "close" and body["games"] == open_round.height and body["unavailable"] == {}

    ids = open_round["game_id"].to_list()
    with psycopg.connect(serving_db.url) as conn:
        season = load_inputs(conn, SEASON, cutoff_minutes=app.settings.cutoff_minutes)
    keep = pl.col("game_id").is_in(ids)
    inputs = at_the_open(
        BacktestInputs(
            season.games.filter(keep), season.features.filter(keep), season.snapshots.filter(keep), 60
        ),
        close_models.open_rows.filter(keep),
    )
    served = app.state.close_models.current.models
    assert set(served) == {"close_moneyline", "close_total"}
    models = {"moneyline": served["close_moneyline"].model, "total": served["close_total"].model}
    strategy = CloseStrategy(models, app.state.staking_policy(), margin=app.settings.recommend_close_margin)
    considered: list[int] = []

    def on_round(context: Context, _: pl.DataFrame) -> None:
        considered.append(strategy.candidates(context).height)

    result = run_backtest(inputs, strategy, bankroll=BANKROLL, on_round=on_round)
    assert result.rounds.height == 1  # one local midnight: one decision, as in the API

    backtest = result.bets.sort("game_id", "market", "side")
    api = sorted(body["bets"], key=lambda b: (b["game_id"], b["market"], b["side"]))
    assert backtest.height >= 2 and result.rounds["quotes"][0] > 2 * open_round.height, (
        "too little to compare"
    )
    assert considered == [body["candidates"]]
    assert [(b["game_id"], b["market"], b["side"], b["book"]) for b in api] == backtest.select(
        "game_id", "market", "side", "book"
    ).rows()
    for got, row in zip(api, backtest.iter_rows(named=True), strict=True):
        assert got["odds"] == row["odds"], (got, row)
        assert got["line"] == row["line"] or (got["line"] is None and row["line"] is None), (got, row)
        assert got["stake"] == row["stake"], (got, row)
        assert math.isclose(got["probability"], row["probability"], abs_tol=1e-12), (got, row)
        assert math.isclose(got["edge"], row["edge"], abs_tol=1e-12), (got, row)
        assert got["observed_at"] <= got["as_of"]
    assert body["total_stake"] == float(backtest["stake"].sum())


def test_the_predicted_close_of_each_game_and_the_expected_clv_of_each_side(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    close_models: CloseModels,
    open_round: pl.DataFrame,
    round_prefix: str,
) -> None:
    """RULE: per game and market the API shows the predicted close (the opening price moved by the
    move model's prediction at the opening line) and each side's expected CLV at the opening price;
    the slate page shows the same numbers."""
    app = serve(_settings(make_settings, close_models, store_key_prefix=round_prefix))
    with app.client() as c:
        response = c.get("/v1/close", params={"date": SLATE_DAY.isoformat()})
        page = c.get("/", params={"date": SLATE_DAY.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [g["game_id"] for g in body["games"]] == open_round["game_id"].to_list()
    served = app.state.close_models.current.models
    models = {"moneyline": served["close_moneyline"].model, "total": served["close_total"].model}
    from mlbedge.serving.close import reference_offers, rows_frame

    rows = app.state.store.read_slate(SLATE_DAY).rows
    with psycopg.connect(app.settings.database_url) as conn:
        games = games_on(conn, SLATE_DAY, 60).filter(pl.col("game_id").is_in(open_round["game_id"].implode()))
    expected = move_probabilities(models, reference_offers(games), rows_frame(rows, games))
    predicted = 0
    for game in body["games"]:
        assert game["open_as_of"] < game["features_as_of"]  # start known: the served row is the cutoff's
        for market in game["markets"]:
            want = expected.filter(
                (pl.col("game_id") == game["game_id"]) & (pl.col("market") == market["market"])
            )
            if market["reason"] is not None:
                assert want.is_empty() or want["p_a"].is_null().all()
                continue
            row = want.row(0, named=True)
            a, b = market["sides"]
            assert math.isclose(a["predicted_close"], row["p_a"], abs_tol=1e-12)
            assert math.isclose(a["open_probability"], row["p_open_a"], abs_tol=1e-12)
            assert math.isclose(b["predicted_close"], 1.0 - row["p_a"], abs_tol=1e-12)
            for side, odds in ((a, row["price_a"]), (b, row["price_b"])):
                decimal = 1 + odds / 100 if odds > 0 else 1 - 100 / odds
                assert side["odds"] == odds
                assert math.isclose(
                    side["expected_clv"], side["predicted_close"] * decimal - 1, abs_tol=1e-12
                )
            logit = lambda p: np.log(p / (1 - p))  # noqa: E731
            assert math.isclose(
                market["predicted_move"], logit(row["p_a"]) - logit(row["p_open_a"]), abs_tol=1e-9
            )
            predicted += 1
    assert predicted >= 2 * open_round.height - 2  # every moneyline, and the totals with an opening total
    assert page.status_code == 200
    assert page.text.count('data-field="predicted-close"') >= predicted
    assert 'data-field="expected-clv"' in page.text


def test_without_a_move_model_the_close_fields_are_null_and_say_why(api: ServedApp) -> None:
    """RULE: where no move model is registered the API still answers: every predicted close and
    expected CLV is null with the reason, the close strategy recommends nothing and says why, and
    the slate page says so -- never an error."""
    with api.client() as c:
        close = c.get("/v1/close", params={"date": SLATE_DAY.isoformat()})
        recs = c.get(
            "/v1/recommendations",
            params={"date": SLATE_DAY.isoformat(), "bankroll": 1000, "strategy": "close"},
        )
        page = c.get("/", params={"date": SLATE_DAY.isoformat()})
    assert close.status_code == 200, close.text
    body = close.json()
    assert body["games"] and set(body["unavailable"]) == {"moneyline", "total"}
    assert all("has no champion" in reason for reason in body["unavailable"].values())
    for game in body["games"]:
        for market in game["markets"]:
            assert (
                market["model"] is None
                and market["predicted_move"] is None
                and "no champion" in market["reason"]
            )
            assert all(s["predicted_close"] is None and s["expected_clv"] is None for s in market["sides"])
    assert recs.status_code == 200, recs.text
    assert recs.json()["bets"] == [] and set(recs.json()["unavailable"]) == {"moneyline", "total"}
    assert page.status_code == 200 and "predicted close: unavailable" in page.text
