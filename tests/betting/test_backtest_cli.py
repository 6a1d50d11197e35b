"""``mlbedge backtest`` on the real files, exactly as DESIGN.md writes it, and its JSON contract."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import get_settings
from tests.betting.conftest import CliRun

MARKETS = ("moneyline", "total", "runline")
SCORED = ("model", "market_open", "market_asof", "market_close")


def test_json_has_every_field_of_the_contract(cli_backtest: CliRun) -> None:
    """DESIGN.md: per market n_games; model, market_open, market_close each with log_loss, brier,
    accuracy; n_bets, staked, roi, clv_mean, max_drawdown, final_bankroll."""
    doc = cli_backtest.doc
    assert (doc["test_season"], doc["train_seasons"]) == (2020, list(range(2010, 2020)))
    for market in MARKETS:
        entry = doc[market]
        for key in ("n_games", "n_bets", "staked", "roi", "clv_mean", "max_drawdown", "final_bankroll"):
            assert key in entry, f"{market}.{key}"
        for source in SCORED:
            assert set(entry[source]) >= {"log_loss", "brier", "accuracy"}, f"{market}.{source}"
        assert entry["n_games"] > 300
        assert 0.6 < entry["model"]["log_loss"] < 0.75
        assert entry["final_bankroll"] == pytest.approx(
            doc["initial_bankroll"] + (entry["staked"] * entry["roi"] if entry["roi"] is not None else 0.0)
        )


def _by_hand_moneyline(database_url: str) -> dict[str, tuple[int, float, float]]:
    """The 2020 SBRO moneyline recounted from curated.games in plain numpy: each price de-vigged
    multiplicatively, scored on the games with a winner, both prices and stored features."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT g.home_ml_open, g.away_ml_open, g.home_ml_close, g.away_ml_close, g.home_score > g.away_score
               FROM curated.games g JOIN curated.game_features f USING (game_id)
               WHERE g.season = 2020 AND g.home_score <> g.away_score AND g.home_ml_open IS NOT NULL
                 AND g.away_ml_open IS NOT NULL AND g.home_ml_close IS NOT NULL AND g.away_ml_close IS NOT NULL"""
        ).fetchall()
    prices = np.array([r[:4] for r in rows], dtype=np.float64)
    y = np.array([r[4] for r in rows], dtype=np.float64)
    with np.errstate(divide="ignore"):  # np.where computes both branches; -100 is a valid price
        implied = np.where(prices < 0, -prices / (100.0 - prices), 100.0 / (prices + 100.0))
    out = {}
    for name, (home, away) in (("market_open", (0, 1)), ("market_close", (2, 3))):
        p = implied[:, home] / (implied[:, home] + implied[:, away])
        out[name] = (
            len(y),
            float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))),
            float(np.mean((p - y) ** 2)),
        )
    return out


def test_market_benchmarks_are_the_prices_recounted(cli_backtest: CliRun) -> None:
    """The opening and closing benchmarks of the moneyline are exactly the de-vigged SBRO prices of
    the 2020 games, recounted here from the database; SBRO has no opening run line to score."""
    ml = cli_backtest.doc["moneyline"]
    by_hand = _by_hand_moneyline(cli_backtest.database_url)
    for source in ("market_open", "market_close"):
        n, loss, brier = by_hand[source]
        assert ml[source]["n_games"] == ml["n_games"] == n, source
        assert ml[source]["log_loss"] == pytest.approx(loss, abs=1e-12), source
        assert ml[source]["brier"] == pytest.approx(brier, abs=1e-12), source
    # 2020 has no time-stamped prices: the price bet into at the cutoff is the opening line.
    assert ml["market_asof"]["log_loss"] == pytest.approx(by_hand["market_open"][1], abs=1e-12)
    for key in ("model_minus_open_log_loss", "model_minus_asof_log_loss", "model_minus_close_log_loss"):
        low, high = ml[key]["ci"]
        assert low < ml[key]["estimate"] < high, key
    runline = cli_backtest.doc["runline"]
    assert runline["market_open"] == {"log_loss": None, "brier": None, "accuracy": None, "n_games": 0}
    assert runline["market_close"]["n_games"] == runline["n_games"]
    # No price to take without an opening run line: nothing bet on it.
    assert runline["n_bets"] == 0


def test_report_written_and_logged_to_mlflow(cli_backtest: CliRun) -> None:
    """The report file exists, needs nothing from the network, and went to MLflow with the numbers."""
    html = cli_backtest.report_path.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "Retrosheet" in html and "sportsbookreviewsonline.com" in html
    uri = f"sqlite:///{cli_backtest.home / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("mlbedge").experiment_id], "tags.`mlbedge.kind` = 'backtest'"
    )
    assert len(runs) == 1
    run = runs[0]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"backtest.json", "r.html"}
    assert run.data.metrics["moneyline.market_open.log_loss"] == pytest.approx(
        cli_backtest.doc["moneyline"]["market_open"]["log_loss"]
    )
    assert run.data.params["test_season"] == "2020"


def test_printed_table_and_timing(cli_backtest: CliRun) -> None:
    """The command prints the per-market table; on small models it runs well under two minutes."""
    assert "Backtest 2020 (trained on 2010-2019)" in cli_backtest.output
    for market in (*MARKETS, "all"):
        assert market in cli_backtest.output
    assert cli_backtest.seconds < 120


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-seasons", "2015-2020", "--test-season", "2020"], "must come before the test season 2020"),
        (["--train-seasons", "2018-2019", "--test-season", "2021"], "season 2021 has no games"),
        (["--train-seasons", "2019", "--test-season", "2020", "--kelly-fraction", "2"], "kelly_fraction"),
    ],
)
def test_bad_requests_fail_clearly(
    cli_backtest: CliRun, monkeypatch: pytest.MonkeyPatch, args, message
) -> None:  # type: ignore[no-untyped-def]
    """Training on the test season, a season never loaded, an impossible Kelly fraction."""
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", cli_backtest.database_url)
    monkeypatch.setenv("MLBEDGE_HOME", str(cli_backtest.home))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["backtest", *args, "--no-log"])
    get_settings.cache_clear()
    assert result.exit_code != 0
    assert message in result.output.replace("\n", " ") or message in str(result.exception)


def test_gate_verdict_and_bets_in_console_json_and_report(cli_backtest: CliRun) -> None:
    """Each market carries its skill gate, judged on seasons before 2020 only; a market that fails
    it places no bet and the reason is printed, in the JSON and in the report; the verdict comes
    first; the JSON lists every bet with its own side's line."""
    from html import escape

    doc = cli_backtest.doc
    html = cli_backtest.report_path.read_text()
    output = " ".join(cli_backtest.output.split())
    for market in MARKETS:
        gate = doc[market]["gate"]
        assert set(gate) >= {"passed", "reason", "seasons", "difference", "ci"}
        # Judged on the training seasons only (SBRO has no run line at the cutoff: nothing to judge).
        assert gate["n_games"] == 0 or (gate["seasons"] and max(gate["seasons"]) < 2020)
        assert " ".join(gate["reason"].split()) in output and escape(gate["reason"]) in html
        if gate["passed"]:
            assert gate["ci"][1] < 0
        else:
            assert doc[market]["n_bets"] == 0 and "no bet" in gate["reason"]
    verdict = doc["verdict"]
    assert output.index(" ".join(verdict.split())) < output.index("Backtest 2020")
    assert escape(verdict) in html.split("<table", 1)[0]  # before any table of the report
    if doc["all"]["n_bets"] == 0:
        assert verdict.startswith("no bets: ")
    assert len(doc["bets"]) == doc["all"]["n_bets"]
    for bet in doc["bets"]:
        assert set(bet) >= {"date", "game_id", "market", "side", "line", "odds", "stake", "result", "profit",
                            "closing_probability", "clv"}  # fmt: skip
