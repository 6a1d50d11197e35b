"""The backtest and the API bet by one rule: the same slate gives the same bets, stakes and lines.

The slate is one round of the served date (the games sharing one cutoff, so the backtest decides
them together as the API does): its feature rows alone are put in Redis under a prefix of their
own and served by the real app, and the same games, features and prices from PostgreSQL go through
the backtest engine with the app's own champion models and staking policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import polars as pl
import psycopg
import pytest

from mlbedge.betting.backtest import BacktestInputs, Context, ModelStrategy, load_inputs, run_backtest
from mlbedge.settings import Settings
from tests.serving.conftest import MARKETS, SEASON, SLATE_DAY, ServedApp, ServingDb, stored_rows

BANKROLL = 2_500.0


@pytest.fixture(scope="module")
def one_round(serving_db: ServingDb) -> pl.DataFrame:
    """The feature rows of the served date's largest round (one cutoff, several games)."""
    day = serving_db.features.filter(pl.col("date") == SLATE_DAY)
    sizes = day.group_by("as_of").len().sort(["len", "as_of"], descending=[True, False])
    rows = day.filter(pl.col("as_of") == sizes["as_of"][0]).sort("game_id")
    assert rows.height >= 4, "the parity slate needs several games"
    return rows


@pytest.fixture
def round_prefix(one_round: pl.DataFrame, serving_db: ServingDb) -> Iterator[str]:
    """A Redis key prefix holding only the round's feature rows."""
    with stored_rows("parity", serving_db.feature_set_version, one_round) as prefix:
        yield prefix


def test_the_backtest_and_the_api_make_the_same_bets(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    serving_db: ServingDb,
    one_round: pl.DataFrame,
    round_prefix: str,
) -> None:
    app = serve(make_settings(store_key_prefix=round_prefix))
    with app.client() as c:
        response = c.get("/v1/recommendations", params={"date": SLATE_DAY.isoformat(), "bankroll": BANKROLL})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["games"] == one_round.height

    # The same games through the backtest engine, with the app's champions and policy.
    ids = one_round["game_id"].to_list()
    with psycopg.connect(serving_db.url) as conn:
        season = load_inputs(conn, SEASON, cutoff_minutes=app.settings.cutoff_minutes)
    keep = pl.col("game_id").is_in(ids)
    inputs = BacktestInputs(
        season.games.filter(keep), season.features.filter(keep), season.snapshots.filter(keep), 60
    )
    served = app.state.models.current.require().models
    assert set(served) == set(MARKETS)
    strategy = ModelStrategy({m: served[m].model for m in MARKETS}, app.state.staking_policy())
    considered: list[int] = []

    def on_round(context: Context, _: pl.DataFrame) -> None:
        considered.append(strategy.candidates(context).height)

    result = run_backtest(inputs, strategy, bankroll=BANKROLL, on_round=on_round)
    assert result.rounds.height == 1  # one cutoff: one decision, as in the API

    backtest = result.bets.sort("game_id", "market", "side")
    api = sorted(body["bets"], key=lambda b: (b["game_id"], b["market"], b["side"]))
    assert backtest.height >= 3 and len({b["market"] for b in api}) >= 2, "too few bets to compare"
    assert considered == [body["candidates"]]
    assert [(b["game_id"], b["market"], b["side"], b["book"]) for b in api] == backtest.select(
        "game_id", "market", "side", "book"
    ).rows()
    for got, row in zip(api, backtest.iter_rows(named=True), strict=True):
        assert got["odds"] == row["odds"], (got, row)
        # The API names each side's own line; the engine keeps the quote's (the home handicap).
        own = -row["line"] if row["market"] == "runline" and row["side"] == "away" else row["line"]
        assert got["line"] == own or (got["line"] is None and own is None), (got, row)
        assert got["stake"] == row["stake"], (got, row)
        assert math.isclose(got["probability"], row["probability"], abs_tol=1e-12), (got, row)
        assert math.isclose(got["edge"], row["edge"], abs_tol=1e-12), (got, row)
    assert body["total_stake"] == float(backtest["stake"].sum())
