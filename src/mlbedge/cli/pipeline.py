"""``mlbedge pipeline``: the daily job once (``run``), on a schedule (``schedule``), and its records."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from mlbedge.cli.options import HomeOption, NowOption, console, fail, parse_date, parse_now, settings_for
from mlbedge.pipeline import (
    STEPS,
    PipelineConfig,
    PipelineReport,
    StepResult,
    add_jobs,
    run_pipeline,
    step_history,
)

app = typer.Typer(
    help="The daily pipeline: ingest, features, store, predict, recommend, settle, monitor.",
    no_args_is_help=True,
)

_STYLE = {"ok": "green", "skipped": "yellow", "failed": "bold red"}


def _steps(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(names) - set(STEPS))
    if unknown:
        raise typer.BadParameter(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    return names


def _progress(result: StepResult) -> None:
    style = _STYLE.get(result.status, "white")
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
    console.print(
        f"  [{style}]{result.status:>7}[/] {result.step:<12} {result.seconds:6.1f} s  {counts} {result.detail}"
    )


def print_report(report: PipelineReport) -> None:
    """A run's steps as a table."""
    table = Table(
        title=f"Pipeline {report.day} ({report.status}, {report.seconds:.1f} s, run {report.run_id[:8]})"
    )
    for column in ("step", "status", "attempts", "seconds", "counts", "detail"):
        table.add_column(column)
    for s in report.steps:
        table.add_row(
            s.step,
            f"[{_STYLE.get(s.status, 'white')}]{s.status}[/]",
            str(s.attempts),
            f"{s.seconds:.2f}",
            ", ".join(f"{k}={v}" for k, v in s.counts.items()),
            s.detail,
        )
    console.print(table)


@app.command("run")
def run(
    day: str | None = typer.Option(None, "--date", help="The MLB day YYYY-MM-DD (default today, Eastern)."),
    bankroll: float = typer.Option(1000.0, "--bankroll", min=0.01, help="Bankroll the stakes are sized on."),
    retries: int = typer.Option(1, "--retries", min=0, help="Retries of a failing step."),
    retry_seconds: float = typer.Option(5.0, "--retry-seconds", min=0.0, help="Wait between retries."),
    offline: bool = typer.Option(False, "--offline", help="Skip the ingest (no network)."),
    resume: bool = typer.Option(False, "--resume", help="Skip steps an earlier run of the day finished."),
    retrain: bool = typer.Option(True, "--retrain/--no-retrain", help="Let alerts start a retraining cycle."),
    steps: str | None = typer.Option(None, "--steps", help=f"Only these steps ({','.join(STEPS)})."),
    now: str | None = NowOption,
    home: Path | None = HomeOption,
) -> None:
    """Run the daily job once; exits 1 when a step failed (the others still ran), among them a
    day whose scheduled games could not be served."""
    from mlbedge.ingest import slate_day

    settings = settings_for(home)
    replay = parse_now(now)
    when = parse_date(day) or slate_day(replay or datetime.now(UTC))
    config = PipelineConfig(
        bankroll=bankroll,
        retries=retries,
        retry_seconds=retry_seconds,
        offline=offline,
        resume=resume,
        retrain=retrain,
        only=_steps(steps),
        now=replay,
    )
    console.print(f"pipeline for {when} (home {settings.home})" + (f", as of {replay}" if replay else ""))
    report = run_pipeline(settings, when, config, on_step=_progress)
    print_report(report)
    if report.status != "ok":
        raise typer.Exit(1)


@app.command("schedule")
def schedule(
    at: str = typer.Option("10:00", "--at", help="Daily run time HH:MM, US Eastern."),
    retrain_every_days: int | None = typer.Option(
        None, "--retrain-every-days", min=1, help="Days between retraining cycles (default: the settings')."
    ),
    bankroll: float = typer.Option(1000.0, "--bankroll", min=0.01, help="Bankroll the stakes are sized on."),
    retries: int = typer.Option(2, "--retries", min=0, help="Retries of a failing step."),
    run_now: bool = typer.Option(False, "--run-now", help="Also run the pipeline once at start."),
    home: Path | None = HomeOption,
) -> None:
    """Run the daily pipeline and the retraining cadence until interrupted (Ctrl-C stops cleanly)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from mlbedge.ingest import SLATE_ZONE

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_for(home)
    config = PipelineConfig(bankroll=bankroll, retries=retries, trigger="schedule")
    scheduler = BlockingScheduler(timezone=SLATE_ZONE)
    try:
        add_jobs(scheduler, settings, config, at=at, retrain_every_days=retrain_every_days)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if run_now:
        scheduler.get_job("daily-pipeline").modify(next_run_time=datetime.now(UTC))
    for job in scheduler.get_jobs():
        console.print(f"scheduled: {job.name} ({job.trigger})")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
        console.print("scheduler stopped")


@app.command("status")
def status(
    day: str | None = typer.Option(None, "--date", help="Only the runs of this day."),
    limit: int = typer.Option(30, "--limit", min=1, help="Most step attempts shown."),
    home: Path | None = HomeOption,
) -> None:
    """The latest step attempts: status, seconds, counts, errors."""
    settings = settings_for(home)
    frame = step_history(settings, parse_date(day), limit)
    if frame.is_empty():
        console.print("no pipeline runs recorded yet")
        return
    table = Table(title="Pipeline steps (newest first)")
    for column in frame.columns:
        # Only the identifying columns stay on one line; counts and errors wrap.
        table.add_column(column, no_wrap=column not in ("counts", "detail"))
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
