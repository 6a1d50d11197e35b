"""``mlbedge train``, ``models list|promote`` and ``retrain`` through the real CLI, on the embedded
MLflow default and against the real ``mlflow server``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import get_settings
from mlbedge.training import registry

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def on_features(features_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", features_db)
    get_settings.cache_clear()
    return features_db


def test_train_on_the_embedded_default(embedded_settings, on_features, tmp_path: Path) -> None:
    """Done-when: `mlbedge train` works with no MLflow server (sqlite under MLBEDGE_HOME)."""
    home = embedded_settings.home
    out = _invoke(
        "train",
        "--home",
        str(home),
        "--train-seasons",
        "2013-2014",
        "--targets",
        "moneyline,total",
        "--rounds",
        "30",
    )
    assert "mlbedge-moneyline version 1, aliases challenger,champion" in out
    assert "mlbedge-total version 1, aliases challenger,champion" in out
    assert (home / "mlflow" / "mlflow.db").is_file()
    listed = _invoke("models", "list", "--home", str(home))
    assert "mlbedge-moneyline" in listed and "mlbedge-total" in listed
    get_settings.cache_clear()
    served = registry.load_serving_model("mlbedge-total", settings=get_settings())
    assert served.meta["seasons"] == [2013, 2014] and "target_line" in served.feature_names

    # A second training makes version 2 the challenger; promote it by target name.
    _invoke(
        "train", "--home", str(home), "--train-seasons", "2014", "--targets", "moneyline", "--rounds", "30"
    )
    promoted = _invoke("models", "promote", "moneyline", "2", "--home", str(home))
    assert "version 2 is champion (was version 1)" in promoted
    failed = runner.invoke(app, ["models", "promote", "mlbedge-moneyline", "9", "--home", str(home)])
    assert failed.exit_code == 1


def test_train_against_the_mlflow_server(mlflow_settings, on_features) -> None:
    """Done-when: `mlbedge train` works against a real `mlflow server` with a PostgreSQL backend."""
    out = _invoke(
        "train",
        "--home",
        str(mlflow_settings.home),
        "--train-seasons",
        "2013-2014",
        "--targets",
        "runline",
        "--rounds",
        "30",
    )
    assert "runline" in out
    name = registry.model_name("runline", mlflow_settings)
    client = MlflowClient(mlflow_settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(name, "champion")
    assert version.tags["train_start"].startswith("2013-") and version.tags["train_end"].startswith("2014-")
    # Nothing was written under home: the server holds the runs and the models.
    assert not (mlflow_settings.home / "mlflow" / "mlflow.db").exists()


def test_train_without_features_fails_clearly(embedded_settings, db_url, monkeypatch) -> None:
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["train", "--home", str(embedded_settings.home), "--targets", "moneyline"])
    assert result.exit_code == 1
    assert "no stored features" in result.output
    bad = runner.invoke(app, ["train", "--home", str(embedded_settings.home), "--targets", "spread"])
    assert bad.exit_code == 2 and "unknown target" in bad.output


def test_retrain_cycle_promotes_only_on_the_margin(
    mlflow_settings, on_features, monkeypatch, tmp_path
) -> None:
    """A cycle registers a challenger and promotes it only when it beats the champion out of sample
    by the margin; a cycle too soon after the last is not due; the numbers are logged."""
    monkeypatch.setenv("MLBEDGE_RETRAIN_WINDOW_DAYS", "400")
    monkeypatch.setenv("MLBEDGE_RETRAIN_HOLDOUT_DAYS", "28")
    monkeypatch.setenv("MLBEDGE_RETRAIN_EVERY_DAYS", "7")
    monkeypatch.setenv("MLBEDGE_RETRAIN_MARGIN", "0.5")  # no model gains half a nat of log loss
    home = str(mlflow_settings.home)
    first = tmp_path / "first.json"
    _invoke(
        "retrain",
        "--home",
        home,
        "--as-of",
        "2016-08-01",
        "--targets",
        "moneyline",
        "--rounds",
        "30",
        "--json",
        str(first),
    )
    (decision,) = json.loads(first.read_text())
    assert decision["promoted"] and "first champion" in decision["reason"]
    assert decision["train_end"] < "2016-07-04"  # the 28 held-out days are not trained on

    soon = tmp_path / "soon.json"
    _invoke(
        "retrain",
        "--home",
        home,
        "--as-of",
        "2016-08-04",
        "--targets",
        "moneyline",
        "--rounds",
        "30",
        "--json",
        str(soon),
    )
    (not_due,) = json.loads(soon.read_text())
    assert not not_due["due"] and "next cycle on 2016-08-08" in not_due["reason"]

    later = tmp_path / "later.json"
    _invoke(
        "retrain",
        "--home",
        home,
        "--as-of",
        "2016-09-01",
        "--targets",
        "moneyline",
        "--rounds",
        "30",
        "--json",
        str(later),
    )
    (kept,) = json.loads(later.read_text())
    assert kept["due"] and not kept["promoted"]
    assert kept["champion_version"] == "1" and kept["challenger_version"] == "2"
    # Compared on games neither model trained on: after the champion's window and the challenger's.
    assert kept["eval_start"] > decision["train_end"] and kept["eval_start"] > kept["train_end"]
    assert kept["n_eval_games"] >= 100
    assert abs(kept["improvement"] - (kept["champion_score"] - kept["challenger_score"])) < 1e-12
    client = MlflowClient(mlflow_settings.mlflow_tracking_uri)
    name = registry.model_name("moneyline", mlflow_settings)
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_model_version_by_alias(name, "challenger").version == "2"
    run = client.get_run(kept["run_id"])
    assert run.data.tags["mlbedge.decision"] == "kept champion"
    assert run.data.metrics["margin"] == 0.5
    assert run.data.metrics["challenger_log_loss"] == pytest.approx(kept["challenger_score"])
    assert run.data.metrics["champion_log_loss"] == pytest.approx(kept["champion_score"])

    # With no margin to clear, a challenger at least as good as the champion is promoted.
    monkeypatch.setenv("MLBEDGE_RETRAIN_MARGIN", "0")
    monkeypatch.setenv("MLBEDGE_RETRAIN_MIN_GAMES", "1")
    last = tmp_path / "last.json"
    _invoke(
        "retrain",
        "--home",
        home,
        "--as-of",
        "2016-09-08",
        "--targets",
        "moneyline",
        "--rounds",
        "30",
        "--json",
        str(last),
    )
    (third,) = json.loads(last.read_text())
    assert third["promoted"] == (third["improvement"] >= 0)
    holder = client.get_model_version_by_alias(name, "champion").version
    assert holder == ("3" if third["promoted"] else "1")


def test_models_evaluate_logs_the_comparison_and_each_fold(mlflow_settings, on_features, tmp_path) -> None:
    """`mlbedge models evaluate`: walk-forward scores beside the market, logged with one child run per model."""
    out_file = tmp_path / "wf.json"
    out = _invoke(
        "models", "evaluate", "--home", str(mlflow_settings.home), "--test-seasons", "2012-2013",
        "--targets", "moneyline", "--rounds", "20", "--json", str(out_file),
    )  # fmt: skip
    assert "| pooled |" in out and "logged to MLflow run" in out
    scores = json.loads(out_file.read_text())["scores"]
    pooled = {r["source"]: r for r in scores if r["season"] == "pooled" and r["scope"] == "common"}
    assert set(pooled) == {"model", "market_open", "market_asof", "market_close"}
    assert pooled["model"]["n_games"] == pooled["market_open"]["n_games"] > 4000
    # 2012-2013 have no time-stamped prices: the price at the cutoff is the opening line.
    assert pooled["market_asof"]["log_loss"] == pytest.approx(pooled["market_open"]["log_loss"], abs=1e-12)
    versus = {r["versus"] for r in json.loads(out_file.read_text())["differences"]}
    assert versus == {"market_open", "market_asof", "market_close"}
    run_id = out.split("logged to MLflow run ")[1].split()[0]
    client = MlflowClient(mlflow_settings.mlflow_tracking_uri)
    parent = client.get_run(run_id)
    assert parent.data.metrics["moneyline.pooled.common.market_open.log_loss"] == pytest.approx(
        pooled["market_open"]["log_loss"]
    )
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert sorted(c.data.tags["mlbedge.fold"] for c in children) == ["2012", "2013"]
    for child in children:
        assert child.data.params["test_start"].startswith(child.data.tags["mlbedge.fold"])
        assert child.data.params["train_end_exclusive"] <= child.data.params["test_start"]
        assert "feature_set_version" in child.data.params
        assert len(client.get_metric_history(child.info.run_id, "oof_log_loss")) == 3
