"""``mlbedge backtest`` on the real files, exactly as DESIGN.md writes it, and its JSON contract."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import get_settings
from tests.betting.conftest import CliRun

MARKETS = ("moneyline", "total", "runline")
SCORED = ("model", "market_open", "market_close")


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


def test_market_benchmarks_match_design(cli_backtest: CliRun) -> None:
    """The de-vigged SBRO moneyline on 2020 lies in DESIGN.md's per-season ranges (opening
    0.665-0.681 / 0.2365-0.2437, closing 0.663-0.677 / 0.2355-0.2418), the close is sharper than
    the open, and SBRO has no opening run line to score."""
    ml = cli_backtest.doc["moneyline"]
    assert ml["n_games"] > 900
    assert 0.665 <= ml["market_open"]["log_loss"] <= 0.681
    assert 0.2365 <= ml["market_open"]["brier"] <= 0.2437
    assert 0.663 <= ml["market_close"]["log_loss"] <= 0.677
    assert 0.2355 <= ml["market_close"]["brier"] <= 0.2418
    assert ml["market_close"]["log_loss"] < ml["market_open"]["log_loss"]
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
