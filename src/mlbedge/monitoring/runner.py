"""One monitoring pass: every check, the alerts stored, and a retraining cycle when one is called for.

:func:`run_monitor` is what ``mlbedge monitor`` and the daily pipeline's monitor step call. It
runs, at a date ``as_of``:

1. **freshness** of every live source (from ``raw.fetches``), against its own cadence;
2. the **day checks** of the day's feature rows (:mod:`mlbedge.monitoring.checks`: missing,
   constant, out-of-range values, swapped sides, clocks) and the **calendar-matched family
   drift** of the recent window (the ``monitor_recent_days`` up to ``as_of``), all judged against
   the :class:`~mlbedge.monitoring.reference.Reference` of the champion's training window (the one
   given, else fitted from the stored features of the champion's training window);
3. **importance drift** between the champion and its challenger (or the champion it replaced);
4. the **model's output** on the day against the market, and its **performance** over its last
   settled games (the 500-game window and the last few days), from the predictions frame given,
   else computed from the registered champions;
5. **CLV trend** of the bets frame given (the pipeline supplies it).

:func:`evaluate` is the part that needs no database: frames in, findings out (the replay
benchmark calls it day after day). A check that cannot run (no champion yet, MLflow unreachable,
no predictions) is skipped with the reason in :attr:`MonitorReport.skipped`; the others still
run. Findings become alerts (:func:`~mlbedge.monitoring.alerts.raise_alerts`), and the open alerts
of subjects found healthy again are closed. When an alert of a kind named in
``monitor_retrain_on`` fires for the first time (a new episode, not a re-check of the same window
nor a later window of an open one) at ``monitor_retrain_min_severity`` or worse,
:func:`retrain_hook` runs one forced retraining cycle
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
    CLOCK,
    CLV,
    CONSTANT_VALUES,
    FEATURE_DRIFT,
    FRESHNESS,
    IMPORTANCE_DRIFT,
    MISSING_VALUES,
    PERFORMANCE,
    PREDICTION_SHIFT,
    SCALE_JUMP,
    SEVERITY_RANK,
    SIDES_SWAPPED,
    Finding,
    RaisedAlert,
)
from mlbedge.monitoring.checks import (
    DayRows,
    FamilyFeatureDrift,
    PredictionGap,
    check_family_drift,
    check_predictions,
    day_checks,
)
from mlbedge.monitoring.drift import read_feature_window
from mlbedge.monitoring.freshness import SourceFreshness, check_freshness
from mlbedge.monitoring.importance import ImportanceDrift, check_model_importance, importance_finding
from mlbedge.monitoring.performance import (
    ClvTrend,
    PerformanceWindow,
    check_clv,
    check_performance,
    recent_degradation,
)
from mlbedge.monitoring.reference import Reference, fit_reference
from mlbedge.settings import Settings, get_settings

DAY_KINDS = (MISSING_VALUES, CONSTANT_VALUES, SCALE_JUMP, SIDES_SWAPPED, CLOCK)

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
class Evaluation:
    """What the checks of one day measured and found (no database involved)."""

    as_of: date
    day_games: int = 0
    window_games: int = 0
    drift: list[FamilyFeatureDrift] = field(default_factory=list)
    prediction_gap: PredictionGap | None = None
    performance: list[PerformanceWindow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class MonitorReport:
    """Everything one pass measured, raised, closed and started."""

    as_of: date
    freshness: list[SourceFreshness] = field(default_factory=list)
    evaluation: Evaluation | None = None
    reference_id: str | None = None
    importance: list[ImportanceDrift] = field(default_factory=list)
    clv: ClvTrend | None = None
    raised: list[RaisedAlert] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    retrain: RetrainOutcome | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def new_alerts(self) -> list[RaisedAlert]:
        """Alerts this pass created (not re-confirmed)."""
        return [r for r in self.raised if r.new]

    @property
    def performance(self) -> list[PerformanceWindow]:
        """The champions' scores over their last settled games."""
        return self.evaluation.performance if self.evaluation else []

    def verdict(self) -> str:
        """One line: OK, or how many critical and warning alerts and the worst one's message."""
        worst = sorted(self.raised, key=lambda r: -SEVERITY_RANK[r.alert.severity])
        critical = sum(r.alert.severity == "critical" for r in self.raised)
        warning = sum(r.alert.severity == "warning" for r in self.raised)
        ran = "; skipped " + ", ".join(sorted(self.skipped)) if self.skipped else ""
        if not critical and not warning:
            return f"OK {self.as_of}: no alert{ran}"
        head = "CRITICAL" if critical else "WARNING"
        first = worst[0].alert
        return f"{head} {self.as_of}: {critical} critical, {warning} warning; first: {first.message}{ran}"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``mlbedge monitor --json`` writes)."""
        ev = self.evaluation
        gap = ev.prediction_gap if ev else None
        return {
            "as_of": self.as_of.isoformat(),
            "verdict": self.verdict(),
            "reference_id": self.reference_id,
            "skipped": {**self.skipped},
            "freshness": [
                {
                    "source": s.source,
                    "age_hours": s.age_hours,
                    "cadence_hours": s.cadence_hours,
                    "fetches_24h": s.fetches_24h,
                    "failed_24h": s.failed_24h,
                    "severity": s.severity,
                }
                for s in self.freshness
            ],
            "day_games": ev.day_games if ev else 0,
            "window_games": ev.window_games if ev else 0,
            "drift": [
                {
                    "feature": d.feature,
                    "family": d.family,
                    "psi": d.psi,
                    "reference_psi": d.reference_psi,
                    "unusual": d.unusual,
                }
                for d in (ev.drift if ev else [])
            ],
            "prediction_gap": None
            if gap is None
            else {
                "games": gap.n_today,
                "mean_today": gap.mean_today,
                "mean_before": gap.mean_reference,
                "z": gap.z,
                "spread_ratio": gap.spread_ratio,
            },
            "importance": [
                {
                    "model": d.subject,
                    "versions": [d.old_version, d.new_version],
                    "spearman": d.spearman,
                    "overlap": d.overlap,
                    "severity": d.severity,
                }
                for d in self.importance
            ],
            "performance": [
                {
                    "target": w.target,
                    "n_games": w.n_games,
                    "model_log_loss": w.model_log_loss,
                    "open_log_loss": w.open_log_loss,
                    "close_log_loss": w.close_log_loss,
                    "model_brier": w.model_brier,
                    "open_brier": w.open_brier,
                    "close_brier": w.close_brier,
                    "gap_open": w.gap_open,
                    "severity": w.severity,
                }
                for w in self.performance
            ],
            "clv": None if self.clv is None else {"n_bets": self.clv.n_bets, "mean_clv": self.clv.mean_clv},
            "alerts": [{**r.alert.model_dump(mode="json"), "new": r.new} for r in self.raised],
            "cleared": self.cleared,
            "retrain": None if self.retrain is None else self.retrain.__dict__,
        }


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


_REFERENCES: dict[str, Reference] = {}  # fitted references by id: a training window never changes


def training_reference(
    conn: psycopg.Connection,
    reference_id: str,
    start: date,
    end: date,
    *,
    feature_set_version: str | None = None,
    settings: Settings | None = None,
) -> Reference:
    """The :class:`Reference` of the stored features of ``start..end`` (fitted once per process)."""
    if reference_id in _REFERENCES:
        return _REFERENCES[reference_id]
    settings = settings or get_settings()
    rows = read_feature_window(conn, start, end, feature_set_version=feature_set_version)
    if rows.is_empty():
        which = f" of feature set {feature_set_version}" if feature_set_version else ""
        raise LookupError(
            f"no stored features{which} for games {start}..{end} to learn an ordinary day from; "
            "run `mlbedge features build` first"
        )
    if "season" not in rows.columns:
        rows = rows.with_columns(season=pl.col("date").dt.year().cast(pl.Int32))
    reference = fit_reference(
        rows,
        reference_id,
        clock_patterns=settings.monitor_drift_calendar_features,
        n_bins=settings.monitor_psi_bins,
        window_start=start,
        window_end=end,
        feature_set_version=feature_set_version,
    )
    _REFERENCES[reference_id] = reference
    return reference


def champion_reference(conn: psycopg.Connection, settings: Settings) -> Reference:
    """The reference of the first served target's champion: its training window and feature set."""
    target = _targets(settings)[0]
    info = champion_info(target, settings)
    if info is None:
        raise LookupError(f"no champion model for {target} yet: train one (`mlbedge train`)")
    return training_reference(
        conn,
        f"{info['name']}@v{info['version']}",
        info["train_start"],
        info["train_end"],
        feature_set_version=info["feature_set_version"],
        settings=settings,
    )


def champion_predictions(conn: psycopg.Connection, as_of: date, settings: Settings) -> pl.DataFrame:
    """The champions' predictions of the games up to ``as_of`` after their training windows (a
    model scored on its own training games would look better than it is), this season and the
    last; the day's own games too, unsettled (``y`` null)."""
    from mlbedge.features.io import read_features
    from mlbedge.training import registry
    from mlbedge.training.targets import read_labels

    seasons = [as_of.year - 1, as_of.year]
    features = read_features(conn, seasons=seasons).filter(pl.col("date") <= as_of)
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
        frames.append(model_predictions(target, model, unseen, labels))
    if not frames:
        raise LookupError(f"no champion has settled games after its training window before {as_of}")
    return pl.concat(frames, how="vertical_relaxed")


def model_predictions(target: str, model: Any, features: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Per game of ``features``: ``target, game_id, date, y`` (null until settled), ``p_model``,
    ``market_open``, ``market_close`` (the columns of
    :data:`~mlbedge.monitoring.performance.PREDICTION_SCHEMA`)."""
    from mlbedge.training.targets import label_frame

    labelled = label_frame(features, labels, target)
    x = labelled.select(pl.col(c).cast(pl.Float64) for c in model.feature_names).to_numpy()
    return labelled.select(
        pl.lit(target).alias("target"),
        "game_id",
        "date",
        "y",
        pl.Series("p_model", model.predict_many(x), dtype=pl.Float64),
        "market_open",
        "market_close",
    )


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


def evaluate(
    rows: DayRows,
    reference: Reference | None,
    *,
    predictions: pl.DataFrame | None = None,
    settings: Settings | None = None,
) -> Evaluation:
    """Every check of one day that needs no database: the day checks and the family drift of
    ``rows`` against ``reference``, the model's output on the day and its performance (from
    ``predictions``). Skipped parts say why in :attr:`Evaluation.skipped`."""
    settings = settings or get_settings()
    ev = Evaluation(as_of=rows.as_of, day_games=rows.day.height, window_games=rows.window.height)
    if reference is None:
        ev.skipped[FEATURE_DRIFT] = "no reference (training window) to judge the features against"
    else:
        ev.findings += day_checks(rows, reference)
        families = sorted(set(reference.families.values()))
        for kind in DAY_KINDS:
            ev.checked[kind] = families if rows.day.height else []
        ev.drift, found, skipped = check_family_drift(
            rows,
            reference,
            min_rows=settings.monitor_drift_min_rows,
            psi_floor=settings.monitor_psi_warning,
            family_share=settings.monitor_drift_family_share,
            strong_ratio=settings.monitor_drift_strong_ratio,
        )
        if skipped:
            ev.skipped[FEATURE_DRIFT] = skipped
        else:
            ev.findings += found
            ev.checked[FEATURE_DRIFT] = families
    if predictions is None:
        ev.skipped[PERFORMANCE] = "no predictions"
        return ev
    moneyline = predictions.filter(pl.col("target") == "moneyline")
    ev.prediction_gap, found = check_predictions(moneyline, rows.window, rows.as_of)
    ev.findings += found
    ev.checked[PREDICTION_SHIFT] = ["moneyline"] if ev.prediction_gap is not None else []
    settled = predictions.filter(pl.col("y").is_not_null())
    ev.performance, found = check_performance(settled, as_of=rows.as_of, settings=settings)
    ev.findings += found
    ev.checked[PERFORMANCE] = [w.target for w in ev.performance]
    for w in ev.performance:
        sudden = recent_degradation(settled, w.target, as_of=rows.as_of)
        ev.checked[PERFORMANCE].append(f"{w.target}:recent")
        if sudden is not None:
            ev.findings.append(sudden)
    return ev


def run_monitor(
    conn: psycopg.Connection,
    *,
    as_of: date | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    reference: Reference | None = None,
    predictions: pl.DataFrame | None = None,
    bets: pl.DataFrame | None = None,
    importance: Sequence[ImportanceDrift] | None = None,
    use_registry: bool = True,
    retrain: bool = True,
    retrain_fn: RetrainFn | None = None,
) -> MonitorReport:
    """Run every check at ``as_of`` (default today), store the alerts, maybe retrain (see the module).

    ``reference``, ``predictions``, ``bets`` and ``importance`` override what the pass would
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

    if reference is None and use_registry:
        try:
            reference = champion_reference(conn, settings)
        except Exception as exc:  # no champion, no registry, no stored rows: say why, go on
            report.skipped[FEATURE_DRIFT] = f"no reference: {exc}"
    elif reference is None:
        report.skipped[FEATURE_DRIFT] = "no reference (training window) given"
    if predictions is None and use_registry:
        try:
            predictions = champion_predictions(conn, as_of, settings)
        except Exception as exc:
            report.skipped[PERFORMANCE] = f"no predictions: {exc}"
    elif predictions is None:
        report.skipped[PERFORMANCE] = "no predictions given"
    start = as_of - timedelta(days=settings.monitor_recent_days - 1)
    # Rows of the reference's feature set only: another feature set is another model, not a fault.
    version = reference.feature_set_version if reference is not None else None
    stored = read_feature_window(conn, start, as_of, feature_set_version=version)
    rows = DayRows.from_frame(stored, as_of, settings.monitor_recent_days)
    if "season" not in rows.window.columns:
        window = rows.window.with_columns(season=pl.col("date").dt.year().cast(pl.Int32))
        rows = DayRows(as_of, window.filter(pl.col("date") == as_of), window)
    report.reference_id = reference.reference_id if reference is not None else None
    report.evaluation = evaluate(rows, reference, predictions=predictions, settings=settings)
    for key, why in report.evaluation.skipped.items():
        report.skipped.setdefault(key, why)
    findings += report.evaluation.findings
    checked.update(report.evaluation.checked)

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
