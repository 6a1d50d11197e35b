"""Feature-importance drift between two model versions: rank correlation and top-k changes."""

from __future__ import annotations

import pytest

from mlbedge.monitoring.importance import (
    check_model_importance,
    compare_importance,
    importance_finding,
    importance_from_mlflow,
)
from mlbedge.settings import Settings

OLD = {"ml_home_prob": 900.0, "elo_diff": 300.0, "home_sp_left": 120.0, "month": 40.0, "is_night": 10.0}


def test_spearman_and_top_k_by_hand(mon_settings: Settings) -> None:
    """Ranks 1..5 against 2,1,3,5,4: rho = 1 - 6*4/(5*24) = 0.8; top 2 keeps both, in swapped order."""
    new = {"ml_home_prob": 300.0, "elo_diff": 900.0, "home_sp_left": 120.0, "month": 5.0, "is_night": 10.0}
    drift = compare_importance(
        OLD, new, top_k=2, subject="mlbedge-moneyline", old_version="1", new_version="2"
    )
    assert drift.spearman == pytest.approx(0.8, abs=1e-12)
    assert drift.overlap == 1.0 and drift.entered == () and drift.left == ()
    assert drift.rank_changes == {"elo_diff": (2, 1), "ml_home_prob": (1, 2)}
    assert drift.severity is None and importance_finding(drift, mon_settings) is None
    assert drift.window == "v1->v2"


def test_a_reordered_model_alerts(mon_settings: Settings) -> None:
    """Reversed ranks and a new top: both thresholds crossed, critical; a missing feature counts as 0."""
    new = {
        "is_night": 900.0,
        "month": 300.0,
        "home_sp_left": 120.0,
        "elo_diff": 40.0,
        "splits_book_count": 20.0,
    }
    drift = compare_importance(
        OLD, new, top_k=2, subject="mlbedge-moneyline", old_version="3", new_version="4"
    )
    # Union of 6 features; ml_home_prob is 0 in the new version and splits_book_count 0 in the old.
    assert drift.spearman < 0
    assert drift.overlap == 0.0
    assert drift.entered == ("is_night", "month") and drift.left == ("ml_home_prob", "elo_diff")
    assert drift.severity == "critical"
    finding = importance_finding(drift, mon_settings)
    assert finding is not None and finding.kind == "importance_drift" and finding.window == "v3->v4"
    assert finding.evidence["entered"] == ["is_night", "month"]
    assert finding.evidence["ranks"]["ml_home_prob"] == {"old": 1, "new": 6}
    # Only the top k moved: warning.
    swapped = {**OLD, "month": 5000.0}
    assert compare_importance(OLD, swapped, top_k=2).severity == "warning"
    with pytest.raises(ValueError, match="both versions need importances"):
        compare_importance(OLD, {})


def test_importance_read_from_the_mlflow_registry(mon_settings: Settings) -> None:
    """The adapter reads the gain each version's training run logged, and compares champion with
    challenger (a real MLflow store, the embedded one under MLBEDGE_HOME)."""
    import mlflow

    from mlbedge.training import registry

    experiment = registry.configure(mon_settings)
    client = registry.client(mon_settings)
    name = registry.model_name("moneyline", mon_settings)
    client.create_registered_model(name)
    reversed_gain = {"is_night": 900.0, "month": 300.0, "home_sp_left": 120.0, "elo_diff": 40.0}
    for version, gain in (("1", OLD), ("2", reversed_gain)):
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_dict(gain, "feature_importance_gain.json")
        mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
        assert str(mv.version) == version
    client.set_registered_model_alias(name, registry.CHAMPION, "1")
    client.set_registered_model_alias(name, registry.CHALLENGER, "2")

    assert importance_from_mlflow(name, "1", settings=mon_settings) == OLD
    drift = check_model_importance(name, settings=mon_settings)
    assert drift is not None
    assert (drift.old_version, drift.new_version) == ("1", "2")
    # Five features in all, so the top 10 holds every one of them: only the ranks alert.
    assert drift.spearman == pytest.approx(-1.0) and drift.overlap == 1.0
    assert drift.severity == "warning"
    with pytest.raises(LookupError, match="has no version 9"):
        importance_from_mlflow(name, "9", settings=mon_settings)
