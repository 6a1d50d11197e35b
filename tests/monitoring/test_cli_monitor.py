"""``mlbedge monitor``: runs the checks on the configured database, prints and stores the alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import Settings
from mlbedge.sources.http import FetchResult, Request
from mlbedge.sources.raw_store import mark_parsed, store_fetch


def test_monitor_command(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path, fixtures_dir: Path
) -> None:
    """A source silent for 10 hours: the command raises its alert once, lists it, fails on it, resolves it."""
    body = (fixtures_dir / "mlb_statsapi" / "schedule_2024-07-01.json").read_bytes()
    for source, hours in (("mlb_stats", 10.0), ("vsin", 0.2)):
        result = FetchResult(
            Request(source, "schedule", f"https://example.invalid/{source}"),
            datetime.now(UTC) - timedelta(hours=hours),
            http_status=200,
            body=body,
        )
        store_fetch(conn, result)
        mark_parsed(conn, result.fetch_id, "parsed", None)
    conn.commit()

    runner = CliRunner()
    out = tmp_path / "report.json"
    args = ["monitor", "--no-registry", "--no-retrain", "--json", str(out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("WARNING ")  # the verdict comes first
    assert "source mlb_stats: no usable fetch for 10.0 h" in first.output.splitlines()[0]
    assert "source mlb_stats: last usable fetch 10.0 h ago" in first.output
    assert "1 alert(s) raised (1 new, 0 confirmed)" in first.output
    assert "skipped feature_drift: no reference (training window) given" in first.output
    report = json.loads(out.read_text())
    assert report["verdict"].startswith("WARNING")
    assert [(a["kind"], a["subject"], a["severity"]) for a in report["alerts"]] == [
        ("freshness", "mlb_stats", "warning")
    ]

    again = runner.invoke(app, [*args, "--fail-on", "warning"])
    assert again.exit_code == 2, again.output
    assert "1 alert(s) raised (0 new, 1 confirmed)" in again.output

    listed = runner.invoke(app, ["monitor", "alerts", "--json"])
    assert listed.exit_code == 0, listed.output
    (alert,) = json.loads(listed.output)
    assert alert["subject"] == "mlb_stats" and alert["resolved_at"] is None

    done = runner.invoke(app, ["monitor", "resolve", str(alert["alert_id"])])
    assert done.exit_code == 0 and "resolved" in done.output
    assert json.loads(runner.invoke(app, ["monitor", "alerts", "--json"]).output) == []
    missing = runner.invoke(app, ["monitor", "resolve", "424242"])
    assert missing.exit_code == 1 and "no alert with id 424242" in missing.output


def test_monitor_without_a_champion_skips_what_needs_one(
    conn: psycopg.Connection, settings: Settings
) -> None:
    """Reading the registry (the embedded MLflow store, empty): the checks that need a champion say
    why they were skipped, and the pass still completes."""
    from mlbedge.monitoring.runner import run_monitor

    report = run_monitor(conn, settings=settings)
    assert "no champion model for moneyline" in report.skipped["feature_drift"]
    assert report.verdict().startswith("OK ")
    assert "no champion has settled games" in report.skipped["performance"]
    assert report.importance == [] and report.raised == [] and report.retrain is None
