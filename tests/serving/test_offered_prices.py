"""Prices as offered: each quote priced at its own line, and only books a person can bet.

The models are the session's real ones (trained on the real 2016 season, registered in a real
MLflow server) and the rows the real 2016 features in Redis. The quotes are written here: two
books with the run line the two ways books list it, a total at two lines, and Action Network's
"consensus" and "open" lines at prices far better than any book's.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from mlbedge.domain.books import is_bettable
from mlbedge.features import prices
from mlbedge.serving.recommend import candidates, recommend
from tests.serving.conftest import SLATE_DAY, ServedApp

SEEN = datetime(2016, 8, 2, 15, 0, tzinfo=UTC)


def _offers(game_ids: list[str], rows: list[tuple[str, str, float | None, int, int]]) -> pl.DataFrame:
    """Every (book, market, line, price_a, price_b) quoted for each game."""
    return pl.DataFrame(
        [
            {"game_id": g, "book": book, "market": market, "line": line, "price_a": a, "price_b": b,
             "fair_a": None, "observed_at": SEEN, "as_of": SEEN}
            for g in game_ids
            for book, market, line, a, b in rows
        ],
        schema={"game_id": pl.String(), "book": pl.String(), "market": pl.String(), "line": pl.Float64(),
                "price_a": pl.Int64(), "price_b": pl.Int64(), "fair_a": pl.Float64(),
                "observed_at": pl.Datetime("us", "UTC"), "as_of": pl.Datetime("us", "UTC")},
    )  # fmt: skip


def test_a_home_plus_one_and_a_half_quote_is_priced_as_home_plus_one_and_a_half(api: ServedApp) -> None:
    models = api.state.models.current.require()
    rows = api.state.store.read_slate(SLATE_DAY).rows
    games = [r.game_id for r in rows]
    offers = _offers(
        games,
        [
            ("draftkings", "runline", -1.5, 150, -170),  # home gives 1.5
            ("fanduel", "runline", 1.5, -180, 160),  # home gets 1.5 (away gives it)
            ("draftkings", "total", 8.5, -110, -110),
            ("fanduel", "total", 9.5, -110, -110),
        ],
    )
    sides = candidates(models, rows, offers)
    home = sides.filter((pl.col("market") == "runline") & (pl.col("side") == "home"))
    minus = home.filter(pl.col("line") == -1.5).sort("game_id")["probability"]
    plus = home.filter(pl.col("line") == 1.5).sort("game_id")["probability"]
    assert minus.len() == plus.len() == len(games)
    # Losing by one at most is always likelier than winning by two: by the share of one-run games.
    assert (plus > minus).all()
    assert 0.1 < float((plus - minus).mean()) < 0.5
    away = sides.filter(
        (pl.col("market") == "runline") & (pl.col("side") == "away") & (pl.col("line") == 1.5)
    )
    assert (away.sort("game_id")["probability"] + plus).to_list() == pytest.approx([1.0] * len(games))
    # A total is a candidate at each book's own line (the model's line input), never at a mean.
    over = sides.filter((pl.col("market") == "total") & (pl.col("side") == "over"))
    assert over.group_by("line").len().sort("line").rows() == [(8.5, len(games)), (9.5, len(games))]


def test_no_recommendation_names_a_book_that_cannot_be_bet(api: ServedApp) -> None:
    """The offered-prices rule (shared by the backtest and the API) offers only books that take
    bets, however good an aggregate's price; the aggregates stay in the snapshots features read."""
    state = api.state
    models = state.models.current.require()
    rows = state.store.read_slate(SLATE_DAY).rows
    games = [r.game_id for r in rows]
    quotes = [
        ("consensus", "moneyline", None, -102, -102),  # better than any book on both sides
        ("open", "moneyline", None, -101, -103),
        ("consensus", "total", 8.5, -101, -101),
        ("draftkings", "moneyline", None, -115, -105),
        ("fanduel", "total", 8.5, -112, -108),
    ]
    snapshots = prices.priced(
        pl.DataFrame(
            [
                {"game_id": g, "book": book, "market": market, "observed_at": SEEN, "line": line,
                 "price_a": a, "price_b": b, "timestamped": True}
                for g in games
                for book, market, line, a, b in quotes
            ],
            schema=prices.SNAPSHOT_SCHEMA,
        )
    )  # fmt: skip
    assert set(snapshots["book"].unique().to_list()) == {"consensus", "open", "draftkings", "fanduel"}
    targets = pl.DataFrame(
        {"game_id": games, "as_of": [SEEN] * len(games), "start_known": [True] * len(games)},
        schema={"game_id": pl.String(), "as_of": pl.Datetime("us", "UTC"), "start_known": pl.Boolean()},
    )
    offers = prices.offered_quotes(targets, snapshots)
    assert set(offers["book"].unique().to_list()) == {"draftkings", "fanduel"}
    assert offers.height == 2 * len(games)
    slate = recommend(models, rows, offers, 1000.0, state.staking_policy(0.25))
    assert all(is_bettable(b) for b in slate.bets["book"].to_list())
    assert not is_bettable(" Consensus") and not is_bettable("OPEN") and is_bettable("DraftKings")
