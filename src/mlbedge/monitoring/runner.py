"""One monitoring pass: every check, the alerts stored, and a retraining cycle when one is called for.

:func:`run_monitor` is what ``mlbedge monitor`` and the daily pipeline's monitor step call. It
runs, at a date ``as_of``:

1. **freshness** of every live source (from ``raw.fetches``);
2. **feature drift** of the recent window (the ``monitor_recent_days`` up to ``as_of``) against
   the baseline fixed at training time: the one given, else the champion's (its training window
   and feature set from the registry, fitted once and stored under ``<model>@v<version>``);
3. **importance drift** between the champion and its challenger (or the champion it replaced);
4. **performance** of the champions over their last settled games, from the predictions frame
   given (the pipeline supplies it), else computed from the registered champions on the games
   after their training windows;
5. **CLV trend** of the bets frame given (the pipeline supplies it).

A check that cannot run (no champion yet, MLflow unreachable, no predictions) is skipped with
the reason in :attr:`MonitorReport.skipped`; the others still run. Findings become alerts
(:func:`~mlbedge.monitoring.alerts.raise_alerts`), and the open alerts of subjects found healthy
again are closed. When an alert of a kind named in ``monitor_retrain_on`` fires for the first
time (a new episode, not a re-check of the same window nor a later window of an open one) at
``monitor_retrain_min_severity`` or worse, :func:`retrain_hook` runs one forced retraining cycle
(:func:`mlbedge.training.retrain.retrain_cycle`) and records its decisions in those alerts'
evidence. The caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import psycopg

from mlbedge.monitoring import alerts as alerts_mod
from mlbedge.monitoring.alerts import (
    CLV,
    FEATURE_DRIFT,
    FRESHNESS,
    IMPORTANCE_DRIFT,
    PERFORMANCE,
    SEVERITY_RANK,
    Finding,
    RaisedAlert,
)
from mlbedge.monitoring.drift import Baseline, DriftReport, check_feature_drift, ensure_baseline
from mlbedge.monitoring.freshness import SourceFreshness, check_freshness
from mlbedge.monitoring.importance import ImportanceDrift, check_model_importance, importance_finding
from mlbedge.monitoring.performance import ClvTrend, PerformanceWindow, check_clv, check_performance
from mlbedge.settings import Settings, get_settings

# retrain_cycle's shape: (conn, targets, *, as_of, force, settings) -> decisions.
RetrainFn = Callable[..., Sequence[Any]]


@dataclass
class RetrainOutcome:
    """What the hook did: the alerts that called for it, the targets, the decisions or the error."""

    triggered_by: list[int]
    targets: list[str]
    decisions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class MonitorReport:
    """Everything one pass measured, raised, closed and started."""

    as_of: date
    freshness: list[SourceFreshness] = field(default_factory=list)
    drift: DriftReport | None = None
    importance: list[ImportanceDrift] = field(default_factory=list)
    performance: list[PerformanceWindow] = field(default_factory=list)
    clv: ClvTrend | None = None
    raised: list[RaisedAlert] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    retrain: RetrainOutcome | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def new_alerts(self) -> list[RaisedAlert]:
        """Alerts this pass created (not re-confirmed)."""
        return [r for r in self.raised if r.new]


def _targets(settings: Settings) -> list[str]:
    return [t.strip() for t in settings.serve_targets.split(",") if t.strip()]


def champion_info(target: str, settings: Settings) -> dict[str, Any] | None:
    """The champion of ``target``: model name, version, training window and feature set (from its
    registry tags), or None when the target has no champion."""
    from mlbedge.training import registry

    name = registry.model_name(target, settings)
    mv = registry.champion(name, settings=settings)
    if mv is None:
        return None
    tags = mv.tags or {}
    if not tags.get("train_start") or not tags.get("train_end"):
        raise LookupError(f"{name} v{mv.version} carries no train_start/train_end tags")
    return {
        "name": name,
        "version": str(mv.version),
        "train_start": date.fromisoformat(tags["train_start"]),
        "train_end": date.fromisoformat(tags["train_end"]),
        "feature_set_version": tags.get("feature_set_version") or None,
    }


def champion_baseline(conn: psycopg.Connection, settings: Settings) -> Baseline:
    """The drift baseline of the first served target's champion (fitted and stored on first use)."""
    target = _targets(settings)[0]
    info = champion_info(target, settings)
    if info is None:
        raise LookupError(f"no champion model for {target} yet: train one (`mlbedge train`)")
    return ensure_baseline(
        conn,
        f"{info['name']}@v{info['version']}",
        info["train_start"],
        info["train_end"],
        feature_set_version=info["feature_set_version"],
        settings=settings,
    )


def champion_predictions(conn: psycopg.Connection, as_of: date, settings: Settings) -> pl.DataFrame:
    """The champions' predictions of the settled games before ``as_of`` and after their training
    windows (a model scored on its own training games would look better than it is), this season
    and the last."""
    from mlbedge.betting.backtest import predictions_frame
    from mlbedge.features.io import read_features
    from mlbedge.training import registry
    from mlbedge.training.targets import read_labels

    seasons = [as_of.year - 1, as_of.year]
    features = read_features(conn, seasons=seasons).filter(pl.col("date") < as_of)
    labels = read_labels(conn, seasons=seasons)
    frames = []
    for target in _targets(settings):
        info = champion_info(target, settings)
        if info is None:
            continue
        model = registry.load_serving_model(info["name"], version=info["version"], settings=settings)
        unseen = features.filter(pl.col("date") > info["train_end"])
        if unseen.is_empty():
            continue
        frames.append(predictions_frame({target: model}, unseen, labels))
    if not frames:
        raise LookupError(f"no champion has settled games after its training window before {as_of}")
    return pl.concat(frames, how="vertical_relaxed")


def retrain_hook(
    conn: psycopg.Connection,
    raised: Sequence[RaisedAlert],
    *,
    as_of: date,
    settings: Settings,
    retrain_fn: RetrainFn | None = None,
) -> RetrainOutcome | None:
    """Run one forced retraining cycle when an alert that should start one first fired.

    Such an alert is new (not a re-check of its window), opens a new episode (it superseded no
    open alert of its kind and subject), is of a kind in ``monitor_retrain_on`` and at least
    ``monitor_retrain_min_severity``. A performance alert retrains its own target; any other
    kind retrains every served target. The decisions (or the error) are added to the evidence
    of the alerts that called for the cycle. ``retrain_fn`` defaults to
    :func:`mlbedge.training.retrain.retrain_cycle`.
    """
    kinds = {k.strip() for k in settings.monitor_retrain_on.split(",") if k.strip()}
    floor = SEVERITY_RANK[settings.monitor_retrain_min_severity]
    triggers = [
        r
        for r in raised
        if r.new
        and r.superseded is None
        and r.alert.kind in kinds
        and SEVERITY_RANK[r.alert.severity] >= floor
    ]
    if not triggers:
        return None
    served = _targets(settings)
    if all(r.alert.kind == PERFORMANCE for r in triggers):
        wanted = {r.alert.subject for r in triggers}
        names = [t for t in served if t in wanted] or sorted(wanted)
    else:
        names = served
    outcome = RetrainOutcome([r.alert.alert_id for r in triggers], names)
    from mlbedge.training.targets import parse_targets

    if retrain_fn is None:
        from mlbedge.training.retrain import retrain_cycle

        retrain_fn = retrain_cycle
    try:
        # A savepoint: a failed cycle must not take the alerts just stored down with it.
        with conn.transaction():
            decisions = retrain_fn(conn, parse_targets(names), as_of=as_of, force=True, settings=settings)
        outcome.decisions = [d.as_dict() if hasattr(d, "as_dict") else dict(d) for d in decisions]
    except Exception as exc:  # the monitor reports every failure of the cycle, whatever it is
        outcome.error = f"{type(exc).__name__}: {exc}"
    record = {
        "targets": names,
        "as_of": as_of.isoformat(),
        "decisions": outcome.decisions,
        "error": outcome.error,
    }
    conn.execute(
        "UPDATE monitoring.alerts SET evidence = evidence || %s::jsonb WHERE alert_id = ANY(%s)",
        (json.dumps({"retrain": record}, default=str), outcome.triggered_by),
    )
    return outcome


def run_monitor(
    conn: psycopg.Connection,
    *,
    as_of: date | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    baseline: Baseline | None = None,
    predictions: pl.DataFrame | None = None,
    bets: pl.DataFrame | None = None,
    importance: Sequence[ImportanceDrift] | None = None,
    use_registry: bool = True,
    retrain: bool = True,
    retrain_fn: RetrainFn | None = None,
) -> MonitorReport:
    """Run every check at ``as_of`` (default today), store the alerts, maybe retrain (see the module).

    ``baseline``, ``predictions``, ``bets`` and ``importance`` override what the pass would
    otherwise read; with ``use_registry=False`` nothing is read from MLflow (checks that need it
    and were given nothing are skipped). ``now`` is the clock of the freshness check.
    """
    settings = settings or get_settings()
    as_of = as_of or date.today()
    report = MonitorReport(as_of=as_of)
    findings: list[Finding] = []
    checked: dict[str, list[str]] = {}

    report.freshness, found = check_freshness(conn, now=now, settings=settings)
    findings += found
    checked[FRESHNESS] = [s.source for s in report.freshness]

    if baseline is None and use_registry:
        try:
            baseline = champion_baseline(conn, settings)
        except Exception as exc:  # no champion, no registry, no stored rows: say why, go on
            report.skipped[FEATURE_DRIFT] = f"no drift baseline: {exc}"
    elif baseline is None:
        report.skipped[FEATURE_DRIFT] = "no drift baseline given"
    if baseline is not None:
        start = as_of - timedelta(days=settings.monitor_recent_days - 1)
        report.drift = check_feature_drift(conn, baseline, start, as_of, settings=settings)
        if report.drift.skipped:
            report.skipped[FEATURE_DRIFT] = report.drift.skipped
        else:
            findings += report.drift.findings
            checked[FEATURE_DRIFT] = [f.feature for f in report.drift.features]

    if importance is None and use_registry:
        from mlbedge.training import registry

        importance = []
        for target in _targets(settings):
            try:
                compared = check_model_importance(registry.model_name(target, settings), settings=settings)
            except Exception as exc:
                report.skipped[f"{IMPORTANCE_DRIFT}:{target}"] = str(exc)
                continue
            if compared is not None:
                importance.append(compared)
    report.importance = list(importance or [])
    for drift in report.importance:
        finding = importance_finding(drift, settings)
        if finding is not None:
            findings.append(finding)
    checked[IMPORTANCE_DRIFT] = [d.subject for d in report.importance]

    if predictions is None and use_registry:
        try:
            predictions = champion_predictions(conn, as_of, settings)
        except Exception as exc:
            report.skipped[PERFORMANCE] = f"no predictions: {exc}"
    elif predictions is None:
        report.skipped[PERFORMANCE] = "no predictions given"
    if predictions is not None:
        report.performance, found = check_performance(predictions, as_of=as_of, settings=settings)
        findings += found
        checked[PERFORMANCE] = [w.target for w in report.performance]

    if bets is not None:
        report.clv, found = check_clv(bets, as_of=as_of, settings=settings)
        findings += found
        if report.clv is not None:
            checked[CLV] = ["all"]
    else:
        report.skipped[CLV] = "no bets given"

    report.raised = alerts_mod.raise_alerts(conn, findings, now=now)
    firing: dict[str, set[str]] = {}
    for f in findings:
        firing.setdefault(f.kind, set()).add(f.subject)
    for kind, subjects in checked.items():
        report.cleared += alerts_mod.resolve_cleared(conn, kind, subjects, firing.get(kind, set()), now=now)
    if retrain:
        report.retrain = retrain_hook(
            conn, report.raised, as_of=as_of, settings=settings, retrain_fn=retrain_fn
        )
    return report
