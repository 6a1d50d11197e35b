"""The backtest engine on a season built by hand (tests/betting/hand_season.py): every bet's profit,
closing-line value, the bankroll each round sees, and the bets it refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from mlbedge.betting.backtest import (
    SCHEDULE_COLUMNS,
    BetRefused,
    ModelStrategy,
    run_backtest,
)
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.research.forecasts import score_forecasts
from tests.betting import hand_season as hs

# Hand-computed: profit per unit of an American price, and the multiplicative de-vig of a close.
WIN_G1 = 100.0 * 100 / 150  # home -150, stake 100, home won
WIN_G2 = 55.0 * 100 / 110  # under -110, stake 55, 8 runs < 8.5
WIN_G5 = 80.0 * 100 / 160  # away +1.5 at -160, stake 80, lost by one: covers


def _fair(a: float, b: float) -> float:
    """Implied probability of side a over the two implied probabilities (both written out)."""
    return a / (a + b)


CLV_G1 = _fair(170 / 270, 100 / 250) * (1 + 100 / 150) - 1  # close -170 / +150
CLV_G2 = _fair(100 / 200, 120 / 220) * (1 + 100 / 110) - 1  # under at +100 vs over -120, bet -110
CLV_G5 = _fair(180 / 280, 100 / 255) * (1 + 100 / 160) - 1  # Pinnacle close TEX -180 / HOU +155


@pytest.fixture
def hand_run():
    strategy = hs.PlanStrategy()
    result = run_backtest(hs.inputs(), strategy, bankroll=1000.0)
    return strategy, result


def test_rounds_are_each_games_cutoff(hand_run) -> None:
    """One round per distinct as_of: local midnight by time zone without a start, first pitch - 60 min with one."""
    strategy, result = hand_run
    assert [c.as_of for c in strategy.contexts] == sorted(set(hs.AS_OF.values()))
    for context in strategy.contexts:
        assert {g: hs.AS_OF[g] for g in context.games["game_id"]} == dict.fromkeys(
            context.games["game_id"], context.as_of
        )
    assert result.rounds["games"].to_list() == [1, 1, 1, 1, 1]


def test_every_bet_settled_by_hand(hand_run) -> None:
    """Win at a minus price, win under a total, push on a whole total, no action, run line +1.5 covering."""
    _, result = hand_run
    bets = {r["game_id"]: r for r in result.bets.iter_rows(named=True)}
    assert {g: (bets[g]["result"], bets[g]["odds"]) for g in bets} == {
        hs.G1: ("win", -150),
        hs.G2: ("win", -110),
        hs.G3: ("push", 100),
        hs.G4: ("void", -120),
        hs.G5: ("win", -160),
    }
    assert bets[hs.G1]["profit"] == pytest.approx(WIN_G1)
    assert bets[hs.G2]["profit"] == pytest.approx(WIN_G2)
    assert bets[hs.G3]["profit"] == 0.0 and bets[hs.G4]["profit"] == 0.0
    assert bets[hs.G5]["profit"] == pytest.approx(WIN_G5)
    assert bets[hs.G5]["line"] == -1.5  # quotes and bets carry the HOME handicap
    assert {g: bets[g]["result_observed_at"] for g in bets} == hs.OBSERVED


def test_closing_line_value_by_hand(hand_run) -> None:
    """Same book at the same line (Pinnacle's last pre-game quote for G5), SBRO's close otherwise,
    none when the close is another total (G3: 9 bet, 9.5 close)."""
    _, result = hand_run
    bets = {r["game_id"]: r for r in result.bets.iter_rows(named=True)}
    assert bets[hs.G1]["clv"] == pytest.approx(CLV_G1, abs=1e-12)
    assert bets[hs.G2]["clv"] == pytest.approx(CLV_G2, abs=1e-12)
    assert bets[hs.G5]["clv"] == pytest.approx(CLV_G5, abs=1e-12)
    assert (bets[hs.G5]["close_book"], bets[hs.G1]["close_book"]) == ("pinnacle", "sbro")
    assert bets[hs.G3]["clv"] is None and bets[hs.G3]["close_book"] is None
    assert CLV_G1 > 0 > CLV_G2  # the G1 price beat the close, the G2 price did not


def test_summary_per_market_by_hand(hand_run) -> None:
    """ROI over action bets (void left out, push counts as turnover), hit rate over decided bets."""
    _, result = hand_run
    summary = result.summary(n_resamples=200)
    ml, total, rl, every = summary["moneyline"], summary["total"], summary["runline"], summary["all"]
    assert (ml["n_bets"], ml["n_void"], ml["staked"]) == (1, 1, 100.0)
    assert ml["roi"] == pytest.approx(WIN_G1 / 100) and ml["clv_mean"] == pytest.approx(CLV_G1)
    assert (total["n_bets"], total["n_push"], total["staked"]) == (2, 1, 95.0)
    assert total["roi"] == pytest.approx(WIN_G2 / 95) and total["hit_rate"] == 1.0
    assert total["yield"] == pytest.approx((WIN_G2 / 55 + 0.0) / 2)
    assert (total["n_clv"], total["clv_mean"]) == (1, pytest.approx(CLV_G2))
    assert rl["roi"] == pytest.approx(WIN_G5 / 80) and rl["clv_mean"] == pytest.approx(CLV_G5)
    assert every["staked"] == 275.0
    assert every["roi"] == pytest.approx((WIN_G1 + WIN_G2 + WIN_G5) / 275)
    assert every["clv_mean"] == pytest.approx((CLV_G1 + CLV_G2 + CLV_G5) / 3)
    assert every["final_bankroll"] == pytest.approx(1000 + WIN_G1 + WIN_G2 + WIN_G5)
    assert ml["final_bankroll"] == pytest.approx(1000 + WIN_G1)
    assert every["max_drawdown"] == 0.0
    low, high = every["roi_ci"]
    assert low <= every["roi"] <= high


def test_bankroll_sees_only_observed_results(hand_run) -> None:
    """A round's bankroll holds the profit of results observed by its as_of; the rest is pending."""
    strategy, _ = hand_run
    seen = {c.as_of: (c.bankroll, c.pending_stake) for c in strategy.contexts}
    assert seen[hs.AS_OF[hs.G1]] == (1000.0, 0.0)
    assert seen[hs.AS_OF[hs.G2]] == (1000.0, 100.0)  # G1 open until midnight New York
    # G1's result is observed at exactly G3's cutoff (midnight New York): it counts.
    assert seen[hs.AS_OF[hs.G3]] == (pytest.approx(1000 + WIN_G1), 55.0)
    assert seen[hs.AS_OF[hs.G4]] == (pytest.approx(1000 + WIN_G1), 95.0)
    assert seen[hs.AS_OF[hs.G5]] == (pytest.approx(1000 + WIN_G1 + WIN_G2), 70.0)
    last = strategy.contexts[-1].history
    assert sorted(last["game_id"]) == [hs.G1, hs.G2] and last["profit"].sum() == pytest.approx(
        WIN_G1 + WIN_G2
    )


def test_context_offers_only_what_was_quoted_by_the_cutoff(hand_run) -> None:
    """G5 (known start) is offered Pinnacle's 18:00 quote only: not SBRO's untimed open, not the
    22:30 quote after its cutoff, not the snapshot after first pitch; no score, no close anywhere."""
    strategy, _ = hand_run
    g5 = next(c for c in strategy.contexts if c.as_of == hs.AS_OF[hs.G5])
    assert set(g5.quotes["book"]) == {"pinnacle"}
    runline = g5.quotes.filter(pl.col("market") == "runline").row(0, named=True)
    assert (runline["line"], runline["price_a"], runline["price_b"]) == (-1.5, 140, -160)
    assert g5.quotes["observed_at"].max() == datetime(2021, 4, 2, 18, tzinfo=UTC)
    for context in strategy.contexts:
        assert tuple(context.games.columns) == SCHEDULE_COLUMNS
        assert not any(
            "score" in c or "close" in c for c in (*context.quotes.columns, *context.features.columns)
        )
    g1 = strategy.contexts[0].quotes
    assert g1.select("book", "price_a", "price_b").rows() == [("sbro", -150, 130)]


def test_bets_not_offered_are_refused() -> None:
    """A price that was not quoted, a game of another round, a line not quoted, more than the cash."""
    base = hs.inputs()

    def refused(bet: dict) -> str:
        def strategy(context):  # type: ignore[no-untyped-def]
            if context.as_of != hs.AS_OF[hs.G1]:
                return pl.DataFrame()
            return pl.DataFrame([bet])

        with pytest.raises(BetRefused) as info:
            run_backtest(base, strategy)
        return str(info.value)

    good = {
        "game_id": hs.G1,
        "market": "moneyline",
        "side": "home",
        "book": "sbro",
        "line": None,
        "odds": -150,
        "stake": 10.0,
    }
    assert "-170) was not offered" in refused({**good, "odds": -170})  # the closing price
    assert "was not offered" in refused({**good, "game_id": hs.G2})
    assert "was not offered" in refused({**good, "book": "pinnacle"})
    assert "1500.00 with 1000.00 at hand" in refused({**good, "stake": 1500.0})
    assert "stake" in refused({**good, "stake": -1.0})
    assert "was not offered" in refused({**good, "side": "over"})


class _ConstantModel:
    """A fitted-model stand-in: home wins 55% (moneyline); over at a total L has 0.5 + (9 - L) / 10."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.feature_names = ["ml_home_prob"] if kind == "moneyline" else ["ml_home_prob", "target_line"]

    def predict_many(self, x):  # type: ignore[no-untyped-def]
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "moneyline":
            return x[:, 0]
        return 0.5 + (9.0 - x[:, 1]) / 10.0


def test_model_strategy_prices_each_quote_at_its_line_and_sizes_by_kelly() -> None:
    """G1: home 0.55 at -150 has no edge; away 0.45 at +130 has 0.45 * 2.3 - 1 = 3.5%, Kelly
    (1.3 * 0.45 - 0.55) / 1.3 = 0.026923, a quarter of it on 1000 is 6.73 -> 6 units. G2: over 8.5
    is 0.55 at -110 (edge 5%), Kelly (0.55 * 10/11 - 0.45) / (10/11) = 0.055, a quarter: 13.75 -> 13."""
    policy = StakingPolicy(kelly_fraction=0.25, method="independent", max_stake_per_bet=0.05)
    strategy = ModelStrategy(
        {"moneyline": _ConstantModel("moneyline"), "total": _ConstantModel("total")}, policy
    )
    result = run_backtest(hs.inputs(), strategy)
    bets = {(r["game_id"], r["market"]): r for r in result.bets.iter_rows(named=True)}
    g1 = bets[(hs.G1, "moneyline")]
    assert (g1["side"], g1["odds"], g1["stake"]) == ("away", 130, 6.0)
    assert g1["edge"] == pytest.approx(0.45 * 2.3 - 1)
    g2 = bets[(hs.G2, "total")]
    assert (g2["side"], g2["line"], g2["probability"], g2["stake"]) == (
        "over",
        8.5,
        pytest.approx(0.55),
        13.0,
    )
    assert g2["result"] == "loss" and g2["profit"] == -13.0
    # G3's total is 9: the model says 0.5, so under -120 and over +100 both lack an edge.
    assert (hs.G3, "total") not in bets


def test_model_strategy_keeps_exposure_under_the_cap_across_rounds() -> None:
    """Stakes still pending from earlier rounds of the day count against the exposure cap."""
    policy = StakingPolicy(kelly_fraction=1.0, method="independent", max_stake_per_bet=0.2, max_stake_per_game=0.2,
                           max_exposure=0.25)  # fmt: skip
    strategy = ModelStrategy(
        {"moneyline": _ConstantModel("moneyline"), "total": _ConstantModel("total")}, policy
    )
    result = run_backtest(hs.inputs(), strategy)
    for r in result.rounds.iter_rows(named=True):
        assert r["pending_stake"] + r["staked"] <= 0.25 * r["bankroll"] + 1e-9


def test_no_bets_summary() -> None:
    """A strategy that never bets: nothing staked, no ROI, the bankroll flat."""
    result = run_backtest(hs.inputs(), lambda context: pl.DataFrame())
    summary = result.summary(n_resamples=50)
    for entry in summary.values():
        assert (entry["n_bets"], entry["staked"], entry["roi"], entry["clv_mean"]) == (0, 0.0, None, None)
        assert (entry["final_bankroll"], entry["max_drawdown"]) == (1000.0, 0.0)


def test_features_of_another_cutoff_are_refused() -> None:
    """Features built for a 30-minute cutoff cannot be backtested as a 60-minute one."""
    base = hs.inputs()
    shifted = base.features.with_columns(
        as_of=pl.when(pl.col("start_known"))
        .then(pl.col("as_of") + pl.duration(minutes=30))
        .otherwise(pl.col("as_of"))
    )
    with pytest.raises(ValueError, match="rebuild the features with that cutoff"):
        run_backtest(type(base)(base.games, shifted, base.snapshots, base.cutoff_minutes), hs.PlanStrategy())


def test_score_forecasts_same_games_by_hand() -> None:
    """The model and both lines scored on the games every line prices; a line with fewer than 30
    priced games is scored on its own games."""
    rng = np.random.default_rng(3)
    n = 60
    y = rng.integers(0, 2, n).astype(float)
    p_model = rng.uniform(0.3, 0.7, n)
    p_open = rng.uniform(0.3, 0.7, n)
    p_close = np.where(np.arange(n) < 50, rng.uniform(0.3, 0.7, n), np.nan)
    frame = pl.DataFrame(
        {"target": "moneyline", "game_id": [f"g{i}" for i in range(n)], "season": 2021, "date": None,
         "y": y, "p_model": p_model, "market_open": p_open, "market_close": p_close}
    ).with_columns(pl.col("market_close").fill_nan(None), pl.col("date").cast(pl.Date))  # fmt: skip
    every = score_forecasts(frame, n_resamples=100)
    scores = every["moneyline"]
    both = slice(0, 50)

    def ll(p: np.ndarray, o: np.ndarray) -> float:
        return float(-np.mean(o * np.log(p) + (1 - o) * np.log(1 - p)))

    assert scores["n_games"] == 50
    assert scores["model"]["log_loss"] == pytest.approx(ll(p_model[both], y[both]))
    assert scores["market_open"]["log_loss"] == pytest.approx(ll(p_open[both], y[both]))
    assert scores["market_close"]["brier"] == pytest.approx(float(np.mean((p_close[both] - y[both]) ** 2)))
    estimate = scores["model_minus_open_log_loss"]["estimate"]
    assert estimate == pytest.approx(ll(p_model[both], y[both]) - ll(p_open[both], y[both]))
    # No total forecasts: every score empty, never a made-up number.
    assert every["total"]["model"] == {"log_loss": None, "brier": None, "accuracy": None, "n_games": 0}


def test_a_suspended_game_settles_only_once_completed() -> None:
    """G1 suspended on Apr 1 and completed on Apr 2: its result is observed at the end of Apr 2
    (Pacific midnight, 07:00 UTC Apr 3), so every round of Apr 2 still has its stake pending and
    none of its profit; G2's result (midnight Los Angeles after Apr 1) does count."""
    games = hs.games().with_columns(
        completion_date=pl.when(pl.col("game_id") == hs.G1).then(pl.date(2021, 4, 2)).otherwise(None)
    )
    inputs = hs.inputs()
    strategy = hs.PlanStrategy()
    result = run_backtest(
        type(inputs)(games, inputs.features, inputs.snapshots, inputs.cutoff_minutes),
        strategy,
        bankroll=1000.0,
    )
    seen = {c.as_of: (c.bankroll, c.pending_stake) for c in strategy.contexts}
    assert seen[hs.AS_OF[hs.G3]] == (1000.0, 155.0)  # G1 and G2 both pending at midnight New York
    assert seen[hs.AS_OF[hs.G5]] == (pytest.approx(1000 + WIN_G2), 170.0)  # G1, G3, G4 pending
    g1 = result.bets.filter(pl.col("game_id") == hs.G1)
    assert g1["result_observed_at"].item() == datetime(2021, 4, 3, 7, tzinfo=UTC)
    assert g1["profit"].item() == pytest.approx(WIN_G1)
