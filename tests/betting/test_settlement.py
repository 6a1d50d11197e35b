"""Settlement: hand-computed wins, losses and pushes at plus and minus prices, run lines of every
size, no-action games, and the vectorised frame held to the scalar reference on random bets."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlbedge.betting.settlement import Result, settle, settle_frame

W, L, P, V = Result.WIN, Result.LOSS, Result.PUSH, Result.VOID

# market, side, stake, odds, home, away, line -> result, profit (worked out by hand)
CASES = [
    # moneyline: -150 risks 150 to win 100; +130 wins 130 per 100
    ("moneyline", "home", 150, -150, 5, 3, None, W, 100.0),
    ("moneyline", "away", 100, 130, 2, 6, None, W, 130.0),
    ("moneyline", "home", 100, 130, 2, 6, None, L, -100.0),
    ("moneyline", "away", 150, -150, 5, 3, None, L, -150.0),
    ("moneyline", "home", 50, -110, 1, 1, None, P, 0.0),  # a final recorded as a tie: no winner
    # totals: 8 runs on a total of 8 push both ways; a half run decides
    ("total", "over", 110, -110, 5, 3, 8.0, P, 0.0),
    ("total", "under", 100, -105, 4, 4, 8.0, P, 0.0),
    ("total", "over", 110, -110, 6, 3, 8.5, W, 100.0),
    ("total", "under", 110, -110, 6, 3, 8.5, L, -110.0),
    ("total", "under", 100, 120, 2, 1, 7.0, W, 120.0),
    ("total", "over", 100, 120, 2, 1, 7.0, L, -100.0),
    # run line -1.5: winning by one loses, by two wins; +1.5: losing by one wins, by two loses
    ("runline", "home", 100, 140, 4, 3, -1.5, L, -100.0),
    ("runline", "home", 100, 140, 5, 3, -1.5, W, 140.0),
    ("runline", "away", 180, -180, 4, 3, 1.5, W, 100.0),
    ("runline", "away", 180, -180, 5, 3, 1.5, L, -180.0),
    ("runline", "away", 100, 150, 3, 4, -1.5, L, -100.0),  # away favoured -1.5, wins by one
    ("runline", "home", 100, -200, 3, 4, 1.5, W, 50.0),  # home +1.5 loses by one
    # other handicaps: -2.5 needs three runs; a whole-run handicap pushes on the number
    ("runline", "home", 100, 250, 5, 3, -2.5, L, -100.0),
    ("runline", "home", 100, 250, 6, 3, -2.5, W, 250.0),
    ("runline", "away", 100, -300, 6, 3, 2.5, L, -100.0),
    ("runline", "home", 100, -120, 4, 3, -1.0, P, 0.0),
    ("runline", "away", 120, -120, 3, 4, 1.0, W, 100.0),
    # no action: no score recorded
    ("moneyline", "home", 100, -150, None, None, None, V, 0.0),
    ("total", "over", 100, -110, None, 3, 8.0, V, 0.0),
    ("runline", "away", 100, 150, math.nan, math.nan, 1.5, V, 0.0),
]


@pytest.mark.parametrize(
    ("market", "side", "stake", "odds", "home", "away", "line", "result", "profit"), CASES
)
def test_settle_by_hand(
    market: str,
    side: str,
    stake: float,
    odds: int,
    home: float | None,
    away: float | None,
    line: float | None,
    result: Result,
    profit: float,
) -> None:
    settled = settle(market, side, stake, odds, home, away, line)
    assert settled.result == result
    assert settled.profit == pytest.approx(profit, abs=1e-9)


def test_no_action_flag_voids_a_decided_game() -> None:
    assert settle("moneyline", "home", 100, -150, 5, 3, no_action=True) == (V, 0.0)


def test_frame_settles_the_hand_cases() -> None:
    frame = pl.DataFrame(
        [case[:7] for case in CASES],
        schema={
            "market": pl.String,
            "side": pl.String,
            "stake": pl.Float64,
            "odds": pl.Int64,
            "home_score": pl.Float64,
            "away_score": pl.Float64,
            "line": pl.Float64,
        },
        orient="row",
    ).with_columns(bet_id=pl.int_range(pl.len()))
    settled = settle_frame(frame)
    assert settled["result"].to_list() == [case[7].value for case in CASES]
    assert settled["profit"].to_list() == pytest.approx([case[8] for case in CASES], abs=1e-9)
    assert settled["bet_id"].to_list() == list(range(len(CASES)))  # other columns pass through


def test_frame_no_action_column_and_integer_scores() -> None:
    frame = pl.DataFrame(
        {
            "market": ["moneyline", "moneyline"],
            "side": ["home", "home"],
            "stake": [150, 150],
            "odds": [-150, -150],
            "home_score": pl.Series([5, 5], dtype=pl.Int64),
            "away_score": pl.Series([3, 3], dtype=pl.Int64),
            "no_action": [False, True],
        }
    )
    settled = settle_frame(frame)
    assert settled["result"].to_list() == ["win", "void"]
    assert settled["profit"].to_list() == [100.0, 0.0]


def _frame(**overrides: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "market": ["moneyline", "total"],
        "side": ["home", "over"],
        "stake": [100.0, 100.0],
        "odds": [-110, -110],
        "home_score": [3, 3],
        "away_score": [2, 2],
        "line": [None, 8.5],
    }
    return pl.DataFrame({**base, **overrides}, strict=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"market": ["moneyline", "spread"]}, r"row 1 \(spread over\): market 'spread'"),
        ({"side": ["over", "over"]}, r"row 0 \(moneyline over\): side 'over' is not a side"),
        ({"stake": [100.0, -5.0]}, r"row 1 .*stake -5.0"),
        ({"odds": [-110, 50]}, r"row 1 .*odds 50"),
        ({"odds": [None, -110]}, r"row 0 .*odds None"),
        ({"line": [None, None]}, r"row 1 \(total over\): line None is needed"),
    ],
)
def test_frame_rejects_malformed_bets_naming_the_row(
    overrides: dict[str, list[object]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        settle_frame(_frame(**overrides))


def test_frame_without_line_column() -> None:
    only_moneyline = _frame().filter(pl.col("market") == "moneyline").drop("line")
    assert settle_frame(only_moneyline)["profit"].item() == pytest.approx(100 / 1.1)
    with pytest.raises(ValueError, match="no 'line' column"):
        settle_frame(_frame().drop("line"))


def test_scalar_rejects_malformed_bets() -> None:
    with pytest.raises(ValueError, match="unknown market 'spread'"):
        settle("spread", "home", 100, -110, 3, 2)
    with pytest.raises(ValueError, match="over or under, not 'home'"):
        settle("total", "home", 100, -110, 3, 2, 8.5)
    with pytest.raises(ValueError, match="needs its line"):
        settle("runline", "home", 100, -110, 3, 2)
    with pytest.raises(ValueError, match="American odds 99"):
        settle("moneyline", "home", 100, 99, 3, 2)
    with pytest.raises(ValueError, match="stake"):
        settle("moneyline", "home", -1, -110, 3, 2)


_bets = st.lists(
    st.tuples(
        st.sampled_from(["moneyline", "total", "runline"]),
        st.booleans(),
        st.integers(0, 500),
        st.integers(100, 400),
        st.booleans(),
        st.one_of(st.none(), st.integers(0, 15)),
        st.integers(0, 15),
        st.sampled_from([-2.5, -2.0, -1.5, -1.0, 1.0, 1.5, 2.5, 6.5, 7.0, 8.0, 8.5, 9.5]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(_bets)
def test_frame_agrees_with_scalar_reference(rows: list[tuple]) -> None:
    sides = {"moneyline": ("home", "away"), "total": ("over", "under"), "runline": ("home", "away")}
    records = [
        {
            "market": market,
            "side": sides[market][first],
            "stake": float(stake),
            "odds": price if plus else -price,
            "home_score": home,
            "away_score": away,
            # totals use the positive lines, run lines the handicaps
            "line": abs(line) if market == "total" else line,
        }
        for market, first, stake, price, plus, home, away, line in rows
    ]
    frame = pl.DataFrame(
        records,
        schema={
            "market": pl.String,
            "side": pl.String,
            "stake": pl.Float64,
            "odds": pl.Int64,
            "home_score": pl.Int64,
            "away_score": pl.Int64,
            "line": pl.Float64,
        },
    )
    settled = settle_frame(frame)
    for record, result, profit in zip(records, settled["result"], settled["profit"], strict=True):
        expected = settle(
            record["market"],
            record["side"],
            record["stake"],
            record["odds"],
            record["home_score"],
            record["away_score"],
            record["line"],
        )
        assert result == expected.result.value
        assert profit == pytest.approx(expected.profit, abs=1e-9)


def test_empty_frame() -> None:
    settled = settle_frame(_frame().clear())
    assert settled.height == 0
    assert settled.schema["profit"] == pl.Float64
