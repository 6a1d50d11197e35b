"""MLflow tracking and registry against a real ``mlflow server`` (PostgreSQL backend), and the
embedded default (sqlite under MLBEDGE_HOME). Nothing of MLflow is mocked."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from mlbedge.training import registry
from mlbedge.training.targets import get_target, model_columns
from mlbedge.training.trainer import TrainedModel, fit_target
from tests.training.conftest import FAST


@pytest.fixture(scope="module")
def trained(training_data) -> TrainedModel:
    """A small moneyline model of 2013-2014."""
    target = get_target("moneyline")
    frame = training_data.labelled(target).filter(pl.col("season").is_between(2013, 2014))
    return fit_target(frame, target, training_data.feature_names, training_data.feature_set_version, **FAST)


@pytest.fixture(scope="module")
def test_rows(training_data) -> pl.DataFrame:
    frame = training_data.labelled("moneyline").filter(pl.col("season") == 2015)
    return frame.select(model_columns(training_data.feature_names, "moneyline"))


def test_registered_champion_predicts_as_before_registering(mlflow_settings, trained, test_rows) -> None:
    """Done-when: a registered champion, loaded by alias, gives the same predictions as before."""
    before = trained.model.predict_proba(test_rows)[:, 1]
    logged = registry.log_training(trained, settings=mlflow_settings)
    version = registry.register(logged, trained, settings=mlflow_settings)
    assert version == "1"
    name = registry.model_name("moneyline", mlflow_settings)
    assert str(registry.champion(name, settings=mlflow_settings).version) == "1"  # the first is champion

    served = registry.load_serving_model(name, alias="champion", settings=mlflow_settings)
    x = test_rows.select(pl.all().cast(pl.Float64)).to_numpy()
    assert np.array_equal(served.predict_many(x), before)
    assert served.predict(x[3]) == before[3]
    assert served.meta["version"] == "1" and served.meta["target"] == "moneyline"
    assert served.meta["feature_set_version"] == trained.feature_set_version

    # The generic pyfunc face of the same version agrees too.
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert np.allclose(np.asarray(pyfunc.predict(test_rows.to_pandas())), before, rtol=0, atol=1e-12)

    # A second load reads the cached files, not the server.
    cached = registry.load_serving_model(name, alias="champion", settings=mlflow_settings)
    assert np.array_equal(cached.predict_many(x[:20]), before[:20])


def test_training_run_logs_params_folds_importance_window_and_signature(mlflow_settings, trained) -> None:
    logged = registry.log_training(trained, settings=mlflow_settings)
    client = MlflowClient(mlflow_settings.mlflow_tracking_uri)
    run = client.get_run(logged.run_id)
    params = run.data.params
    assert params["feature_set_version"] == trained.feature_set_version
    assert params["train_start"] == trained.train_start.isoformat()
    assert params["train_end"] == trained.train_end.isoformat()
    assert params["train_seasons"] == "2013,2014"
    assert params["learning_rate"] == str(trained.model.learning_rate)
    assert run.data.tags["mlbedge.feature_set_version"] == trained.feature_set_version
    # One out-of-fold log loss per calibration fold, as steps of one metric.
    history = client.get_metric_history(logged.run_id, "oof_log_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    assert all(0.6 < m.value < 0.75 for m in history)
    assert "cal_valid_ece_raw" in run.data.metrics
    assert any(k.startswith("gain.") for k in run.data.metrics)
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=logged.run_id, artifact_path="feature_importance_gain.json"
        )
    )
    gains = json.loads(local.read_text())
    assert set(gains) == set(trained.model.feature_names_in_)
    assert max(gains.values()) > 0
    info = mlflow.models.get_model_info(logged.model_uri)
    assert [c.name for c in info.signature.inputs.inputs] == trained.model.feature_names_in_
    assert info.signature.outputs.input_names() == ["prediction"]


def test_promote_moves_the_champion_alias(mlflow_settings, trained) -> None:
    name = registry.model_name("moneyline", mlflow_settings)
    first = registry.register(
        registry.log_training(trained, settings=mlflow_settings), trained, settings=mlflow_settings
    )
    second = registry.register(
        registry.log_training(trained, settings=mlflow_settings), trained, settings=mlflow_settings
    )
    client = MlflowClient(mlflow_settings.mlflow_tracking_uri)
    assert client.get_model_version_by_alias(name, "champion").version == first
    assert client.get_model_version_by_alias(name, "challenger").version == second
    assert registry.promote(name, second, settings=mlflow_settings) == first
    assert client.get_model_version_by_alias(name, "champion").version == second
    assert client.get_model_version_by_alias(name, "previous_champion").version == first
    listed = registry.list_models(settings=mlflow_settings)
    assert listed["version"].to_list() == [1, 2]
    assert "champion" in listed.filter(pl.col("version") == 2)["aliases"][0]
    assert listed["train_end"].to_list() == [trained.train_end.isoformat()] * 2


def test_embedded_default_is_a_sqlite_store_under_home(embedded_settings, trained, test_rows) -> None:
    """With no tracking URI the runs and the registry live in MLBEDGE_HOME/mlflow (no server)."""
    assert registry.is_embedded(embedded_settings)
    uri = registry.tracking_uri(embedded_settings)
    assert uri == f"sqlite:///{embedded_settings.home / 'mlflow' / 'mlflow.db'}"
    logged = registry.log_training(trained, settings=embedded_settings)
    registry.register(logged, trained, settings=embedded_settings)
    assert (embedded_settings.home / "mlflow" / "mlflow.db").is_file()
    assert any((embedded_settings.home / "mlflow" / "artifacts").rglob("booster.txt"))
    served = registry.load_serving_model(
        registry.model_name("moneyline", embedded_settings), settings=embedded_settings
    )
    x = test_rows.select(pl.all().cast(pl.Float64)).to_numpy()
    assert np.array_equal(served.predict_many(x), trained.model.predict_proba(test_rows)[:, 1])
