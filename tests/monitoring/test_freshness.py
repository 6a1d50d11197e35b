"""Freshness per source from stored fetch rows (``raw.fetches``), written by the ingestion's own
``store_fetch`` with real recorded payloads as bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from mlbedge.monitoring.alerts import FRESHNESS, list_alerts
from mlbedge.monitoring.freshness import check_freshness
from mlbedge.monitoring.runner import run_monitor
from mlbedge.settings import Settings
from mlbedge.sources.http import FetchResult, Request
from mlbedge.sources.raw_store import mark_parsed, store_fetch

NOW = datetime(2024, 7, 1, 18, 0, tzinfo=UTC)


def _fetch(
    conn: psycopg.Connection,
    source: str,
    hours_ago: float,
    body: bytes | None,
    *,
    status: int | None = 200,
    error: str | None = None,
    parse: str | None = "parsed",
) -> None:
    result = FetchResult(
        Request(source, "schedule", f"https://example.invalid/{source}"),
        NOW - timedelta(hours=hours_ago),
        http_status=status,
        body=body,
        content_type="application/json",
        error=error,
        error_kind="unavailable" if error else None,
    )
    store_fetch(conn, result)
    if parse is not None and result.ok:
        mark_parsed(conn, result.fetch_id, parse, None if parse != "failed" else "KeyError: 'dates'")


@pytest.fixture
def fetch_log(conn: psycopg.Connection, fixtures_dir: Path) -> psycopg.Connection:
    """Five sources, each in a different state at NOW."""
    schedule = (fixtures_dir / "mlb_statsapi" / "schedule_2024-07-01.json").read_bytes()
    splits = (fixtures_dir / "sbd" / "srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json").read_bytes()
    # mlb_stats: fetched every 15 minutes for the last two hours, all parsed.
    for i in range(8):
        _fetch(conn, "mlb_stats", 0.25 * i + 0.1, schedule)
    # vsin: nothing for 8 hours (warning).
    _fetch(conn, "vsin", 8.0, b"<html>splits</html>")
    # sbd: answers with errors for a day and a half (critical), its last good fetch 30 h ago.
    _fetch(conn, "sbd", 30.0, splits)
    for h in (20.0, 10.0, 1.0):
        _fetch(conn, "sbd", h, None, status=None, error="connection failed after 5 attempt(s)", parse=None)
    # action_network: answers 200, but the parser no longer understands the page (format change).
    _fetch(conn, "action_network", 7.5, b'{"games": []}')
    for h in (6.0, 3.0, 0.5):
        _fetch(conn, "action_network", h, b'{"events": "new format"}', parse="failed")
    # an_history: fresh, but 5 of its 8 fetches today failed (error rate).
    for i in range(8):
        failed = i % 2 == 0 or i == 7
        _fetch(
            conn,
            "an_history",
            0.5 + i,
            None if failed else b"{}",
            status=503 if failed else 200,
            error="HTTP 503 after 5 attempt(s)" if failed else None,
        )
    # A fetch after NOW is in the future of the check: ignored.
    _fetch(conn, "vsin", -3.0, b"<html>later</html>")
    return conn


def test_freshness_per_source(fetch_log: psycopg.Connection, settings: Settings) -> None:
    """Age of the last usable fetch and the failure rate decide each source's state."""
    sources, findings = check_freshness(fetch_log, now=NOW, settings=settings)
    by = {s.source: s for s in sources}
    assert set(by) == {"mlb_stats", "vsin", "sbd", "action_network", "an_history"}
    assert by["mlb_stats"].severity is None and by["mlb_stats"].age_hours == pytest.approx(0.1)
    assert by["mlb_stats"].fetches_24h == 8 and by["mlb_stats"].failed_24h == 0
    assert (by["vsin"].severity, by["vsin"].age_hours) == ("warning", pytest.approx(8.0))
    assert by["sbd"].severity == "critical" and by["sbd"].age_hours == pytest.approx(30.0)
    assert by["sbd"].last_fetch == NOW - timedelta(hours=1) and by["sbd"].last_ok == NOW - timedelta(hours=30)
    assert by["action_network"].last_ok == NOW - timedelta(hours=0.5)
    assert by["action_network"].last_usable == NOW - timedelta(hours=7.5)
    assert by["action_network"].severity == "warning" and by["action_network"].problem == "stale"
    assert (by["an_history"].severity, by["an_history"].problem) == ("warning", "errors")
    assert (by["an_history"].failed_24h, by["an_history"].fetches_24h) == (5, 8)
    assert sorted(f.subject for f in findings) == ["action_network", "an_history", "sbd", "vsin"]
    window = {f.subject: f.window for f in findings}
    assert window["vsin"] == f"stale since {(NOW - timedelta(hours=8)).isoformat()}"
    assert window["an_history"] == "errors on 2024-07-01"


def test_freshness_alerts_are_idempotent_and_clear(fetch_log: psycopg.Connection, settings: Settings) -> None:
    """Checking again later keeps one alert per stale episode; a source that recovers is cleared."""
    run_monitor(fetch_log, as_of=NOW.date(), now=NOW, use_registry=False, retrain=False, settings=settings)
    first = {a.subject: a for a in list_alerts(fetch_log, kinds=[FRESHNESS])}
    assert set(first) == {"vsin", "sbd", "action_network", "an_history"}

    # An hour later vsin is still stale (same episode, evidence refreshed), and sbd is back.
    later = NOW + timedelta(hours=1)
    for h in (0.5, 0.0, -0.5, -0.9):  # the last 0.1 h before `later`; 3 failures of 7 left in 24 h
        _fetch(fetch_log, "sbd", h, b"{}")
    report = run_monitor(
        fetch_log, as_of=later.date(), now=later, use_registry=False, retrain=False, settings=settings
    )
    assert not any(r.new for r in report.raised if r.alert.subject == "vsin")
    now_open = {a.subject: a for a in list_alerts(fetch_log, kinds=[FRESHNESS])}
    assert "sbd" not in now_open
    assert now_open["vsin"].alert_id == first["vsin"].alert_id
    assert now_open["vsin"].evidence["age_hours"] == pytest.approx(9.0)
    assert (
        fetch_log.execute("SELECT count(*) FROM monitoring.alerts WHERE subject = 'vsin'").fetchone()[0] == 1
    )
    sbd = list_alerts(fetch_log, status="resolved", subject="sbd")
    assert [a.resolution for a in sbd] == ["cleared"]


def test_a_source_silent_past_its_own_cadence(conn: psycopg.Connection, settings: Settings) -> None:
    """Fetched every 15 minutes for three days: silent 1.5 h is four missed beats (warning) long
    before the fixed 6 h; silent 4 h is past three times that (critical)."""
    for i in range(int(70 / 0.25)):
        _fetch(conn, "odds_api", 1.5 + 0.25 * i, b"{}")
        _fetch(conn, "mlb_stats", 4.0 + 0.25 * i, b"{}")
    sources, findings = check_freshness(conn, now=NOW, settings=settings)
    by_source = {s.source: s for s in sources}
    assert by_source["odds_api"].cadence_hours == pytest.approx(0.25, abs=1e-6)
    assert by_source["odds_api"].severity == "warning" and by_source["mlb_stats"].severity == "critical"
    odds = next(f for f in findings if f.subject == "odds_api")
    assert "usually every 15 min" in odds.message and "Look at" in odds.message
    assert odds.evidence["cadence_hours"] == pytest.approx(0.25, abs=1e-6)
    # A fetch 10 minutes ago: on its cadence again, nothing to say.
    _fetch(conn, "odds_api", 10 / 60, b"{}")
    assert "odds_api" not in {f.subject for f in check_freshness(conn, now=NOW, settings=settings)[1]}
