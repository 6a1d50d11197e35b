"""``mlbedge monitor``: run the drift, degradation and freshness checks; list and resolve alerts."""

from __future__ import annotations

import json
import os
from datetime import date
from enum import StrEnum
from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from mlbedge.cli.options import HomeOption, console, fail, settings_for
from mlbedge.monitoring.alerts import SEVERITY_RANK, Alert, list_alerts, resolve_alert
from mlbedge.storage.database import connect

app = typer.Typer(
    help="Drift, degradation and freshness checks, and the alerts they raise.",
    invoke_without_command=True,
)

_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


class FailOn(StrEnum):
    never = "never"
    warning = "warning"
    critical = "critical"


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{option} {value!r} is not a date YYYY-MM-DD") from exc


def _read_frame(path: Path | None, option: str) -> pl.DataFrame | None:
    if path is None:
        return None
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, try_parse_dates=True)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise fail(f"{option} {path}: cannot read it as Parquet or CSV: {exc}") from exc


def print_alerts(alerts: list[Alert], title: str) -> None:
    """Alerts as a table, most severe first."""
    table = Table(title=title)
    for column in ("id", "severity", "kind", "subject", "window", "since", "message"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        table.add_row(
            str(a.alert_id),
            f"[{_STYLE[a.severity]}]{a.severity}[/]",
            a.kind,
            a.subject,
            a.window,
            a.created_at.strftime("%Y-%m-%d %H:%M"),
            a.message,
        )
    console.print(table)


@app.callback()
def monitor(
    ctx: typer.Context,
    on: str | None = typer.Option(None, "--date", help="Monitor as of this date YYYY-MM-DD (default today)."),
    train_start: str | None = typer.Option(
        None, "--train-start", help="Judge against this training window instead of the champion's."
    ),
    train_end: str | None = typer.Option(None, "--train-end", help="Last date of that training window."),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        help="Predictions frame (Parquet/CSV) instead of the champions' own.",
        dir_okay=False,
    ),
    bets: Path | None = typer.Option(
        None, "--bets", help="Settled bets with clv (Parquet/CSV).", dir_okay=False
    ),
    registry: bool = typer.Option(True, "--registry/--no-registry", help="Read champions from MLflow."),
    retrain: bool = typer.Option(True, "--retrain/--no-retrain", help="Allow the retraining hook."),
    fail_on: FailOn = typer.Option(
        FailOn.never, "--fail-on", help="Exit with status 2 when an open alert is at least this severe."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report here.", dir_okay=False),
    home: Path | None = HomeOption,
) -> None:
    """Run every check at a date, store the alerts, print them (subcommands list and resolve)."""
    if ctx.invoked_subcommand is not None:
        return
    from mlbedge.features.registry import feature_set_version
    from mlbedge.monitoring.runner import run_monitor, training_reference

    settings = settings_for(home)
    # MLflow's client retries a dead server for minutes by default; the checks that need it are
    # skipped with the reason instead (a user's own values win).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    as_of = _date(on, "--date")
    start, end = _date(train_start, "--train-start"), _date(train_end, "--train-end")
    if (start is None) != (end is None):
        raise typer.BadParameter("give both --train-start and --train-end, or neither")
    predictions_frame = _read_frame(predictions, "--predictions")
    bets_frame = _read_frame(bets, "--bets")
    with connect(settings) as conn:
        reference = None
        if start is not None and end is not None:
            version = feature_set_version(settings.cutoff_minutes)
            try:
                reference = training_reference(
                    conn,
                    f"{version}:{start}..{end}",
                    start,
                    end,
                    feature_set_version=version,
                    settings=settings,
                )
            except LookupError as exc:
                raise fail(str(exc)) from exc
        try:
            report = run_monitor(
                conn,
                as_of=as_of,
                settings=settings,
                reference=reference,
                predictions=predictions_frame,
                bets=bets_frame,
                use_registry=registry,
                retrain=retrain,
            )
        except ValueError as exc:
            raise fail(str(exc)) from exc
        open_alerts = list_alerts(conn, status="open")

    verdict = report.verdict()
    style = (
        "bold red" if verdict.startswith("CRITICAL") else "yellow" if verdict.startswith("WARN") else "green"
    )
    console.print(f"[{style}]{verdict}[/]", soft_wrap=True)
    for s in report.freshness:
        age = "never" if s.age_hours is None else f"{s.age_hours:.1f} h"
        state = f"[{_STYLE[s.severity]}]{s.severity}[/]" if s.severity else "[green]ok[/]"
        console.print(
            f"  source {s.source}: last usable fetch {age} ago, {s.failed_24h}/{s.fetches_24h} failed in 24 h: {state}"
        )
    ev = report.evaluation
    if ev is not None and ev.day_games:
        console.print(
            f"  inputs: {ev.day_games} games on {report.as_of}, {ev.window_games} in the recent window"
        )
    if ev is not None and ev.drift:
        unusual = sorted((d for d in ev.drift if d.unusual), key=lambda d: -d.psi)
        console.print(
            f"  drift of {len(ev.drift)} features vs the same part of the training seasons "
            f"({report.reference_id}): {len(unusual)} beyond every training season"
            + (": " + ", ".join(f"{d.feature} {d.psi:.2f}" for d in unusual[:5]) if unusual else "")
        )
    if ev is not None and ev.prediction_gap is not None:
        g = ev.prediction_gap
        console.print(
            f"  moneyline predictions vs market: mean logit gap {g.mean_today:+.3f} "
            f"(before {g.mean_reference:+.3f}, z {g.z:+.1f}), scatter {g.spread_ratio:.1f}x usual"
        )
    for d in report.importance:
        console.print(
            f"  importance {d.subject} v{d.old_version}->v{d.new_version}: Spearman {d.spearman:.2f}, "
            f"top-{d.top_k} overlap {d.overlap:.0%}"
        )
    for w in report.performance:
        console.print(
            f"  {w.target}: last {w.n_games} games log loss {w.model_log_loss:.4f} (open {w.open_log_loss:.4f}"
            + (f", close {w.close_log_loss:.4f}" if w.close_log_loss is not None else "")
            + f"), Brier {w.model_brier:.4f} (open {w.open_brier:.4f})"
        )
    if report.clv is not None:
        console.print(f"  CLV: mean {report.clv.mean_clv:+.4f} over the last {report.clv.n_bets} bets")
    for check, why in report.skipped.items():
        console.print(f"  [dim]skipped {check}: {why}[/]")
    new = len(report.new_alerts)
    console.print(
        f"{len(report.raised)} alert(s) raised ({new} new, {len(report.raised) - new} confirmed), "
        f"{len(report.cleared)} cleared"
    )
    if report.retrain is not None:
        outcome = report.retrain
        what = outcome.error or "; ".join(f"{d.get('target')}: {d.get('reason')}" for d in outcome.decisions)
        console.print(f"[bold]Retraining cycle for {', '.join(outcome.targets)}[/]: {what}")
    print_alerts(open_alerts, "Open alerts")
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    if fail_on is not FailOn.never and any(
        SEVERITY_RANK[a.severity] >= SEVERITY_RANK[fail_on.value] for a in open_alerts
    ):
        raise typer.Exit(2)


@app.command("alerts")
def alerts_cmd(
    status: str = typer.Option("open", "--status", help="open, resolved or all."),
    kind: list[str] | None = typer.Option(None, "--kind", help="Only this kind (repeatable)."),
    min_severity: str = typer.Option("info", "--min-severity", help="info, warning or critical."),
    limit: int = typer.Option(100, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    home: Path | None = HomeOption,
) -> None:
    """List stored alerts (open ones by default), most severe first."""
    with connect(settings_for(home)) as conn:
        try:
            found = list_alerts(
                conn,
                status=status,
                kinds=kind or None,
                min_severity=min_severity,
                limit=limit,  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps([a.model_dump(mode="json") for a in found], indent=2))
    else:
        print_alerts(found, f"Alerts ({status})")


@app.command("resolve")
def resolve_cmd(
    alert_id: int = typer.Argument(..., help="Id of the alert."), home: Path | None = HomeOption
) -> None:
    """Close an alert by hand."""
    with connect(settings_for(home)) as conn:
        try:
            alert = resolve_alert(conn, alert_id)
        except LookupError as exc:
            raise fail(str(exc)) from exc
    console.print(f"alert {alert.alert_id} ({alert.kind} {alert.subject}) resolved at {alert.resolved_at}")
