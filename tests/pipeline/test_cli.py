"""``mlbedge pipeline run|status|schedule`` through the Typer app, on real services."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import Settings, get_settings


@pytest.fixture
def env_settings(
    pipeline_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The test's settings as MLBEDGE_ variables, the way the command reads them."""
    settings = pipeline_settings()
    for name in (
        "database_url",
        "redis_url",
        "store_backend",
        "store_key_prefix",
        "mlflow_tracking_uri",
        "model_name_prefix",
        "data_dir",
        "recommend_min_edge",
    ):
        monkeypatch.setenv(f"MLBEDGE_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def test_run_then_status(env_settings: Settings) -> None:
    """A historical day runs offline to the end (exit 0) and its steps are listed by ``status``."""
    runner = CliRunner()
    home = str(env_settings.home)
    done = runner.invoke(
        app, ["pipeline", "run", "--date", "2016-08-02", "--offline", "--no-retrain", "--home", home]
    )
    assert done.exit_code == 0, done.output
    assert "Pipeline 2016-08-02 (ok" in done.output
    assert "predictions=45" in done.output
    status = runner.invoke(app, ["pipeline", "status", "--date", "2016-08-02", "--home", home])
    assert status.exit_code == 0, status.output
    for step in ("ingest", "features", "materialize", "predict", "recommend", "settle", "monitor"):
        assert step in status.output


def test_bad_options_are_named(env_settings: Settings) -> None:
    """A bad date, an unknown step or an impossible time is refused, naming the value."""
    runner = CliRunner()
    home = str(env_settings.home)
    bad_date = runner.invoke(app, ["pipeline", "run", "--date", "2016-13-01", "--home", home])
    assert bad_date.exit_code == 2 and "2016-13-01" in bad_date.output
    bad_step = runner.invoke(app, ["pipeline", "run", "--steps", "predict,bake", "--home", home])
    assert bad_step.exit_code == 2 and "bake" in bad_step.output
    bad_time = runner.invoke(app, ["pipeline", "schedule", "--at", "25h", "--home", home])
    assert bad_time.exit_code == 1 and "25h" in bad_time.output
