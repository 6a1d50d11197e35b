"""Optuna search stored in PostgreSQL (a fresh database on the machine's server), shared by two runs."""

from __future__ import annotations

import optuna
import pytest

from mlbedge.training.targets import get_target
from mlbedge.training.tuning import storage_url, tune
from tests.training.conftest import FAST


def test_search_in_postgresql_is_shared_and_avoids_test_seasons(training_data, settings, db_url) -> None:
    target = get_target("moneyline")
    url = storage_url(settings.model_copy(update={"optuna_storage_url": db_url}))
    assert url.startswith("postgresql+psycopg://")
    fixed = {**FAST, "num_boost_round": 15}
    first = tune(
        training_data, target, validation_seasons=[2012], n_trials=2, storage=url, fixed_params=fixed
    )
    # A second "machine" adds trials to the same study instead of starting over.
    second = tune(
        training_data, target, validation_seasons=[2012], n_trials=1, storage=url, fixed_params=fixed
    )
    assert (first.n_trials, second.n_trials) == (2, 3)
    study = optuna.load_study(study_name="mlbedge-moneyline", storage=url)
    assert len(study.trials) == 3 and study.user_attrs["validation_seasons"] == [2012]
    assert 0.6 < second.best_value < 0.72
    assert 0.005 <= second.best_params["learning_rate"] <= 0.05
    with pytest.raises(ValueError, match="test seasons"):
        tune(training_data, target, validation_seasons=[2014, 2015], n_trials=1, storage=url)


def test_default_storage_is_sqlite_under_home(settings) -> None:
    assert storage_url(settings) == f"sqlite:///{settings.home / 'optuna.db'}"
