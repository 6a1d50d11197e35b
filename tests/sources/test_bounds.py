"""Ingestion with hard bounds, against real loopback servers: a total deadline per attempt (a body
dripped byte by byte included), a body size cap, Retry-After capped, a per-source budget, every
attempt stored, concurrent sources, and clear answers from the CLI when things fail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge import ingest
from mlbedge.settings import Settings, get_settings
from mlbedge.sources.http import FetchResult, PoliteClient, Request
from mlbedge.sources.raw_store import mark_parsed, store_fetch
from tests.redis_server import free_port
from tests.sources.server import DripServer, FixtureServer, json_reply, sequence


def _client(**kw: Any) -> PoliteClient:
    options = {"default_interval": 0.0, "timeout": 1.0, "max_retries": 2, "backoff": 0.01, "backoff_max": 0.5}
    options.update(kw)
    return PoliteClient(**options)


@pytest.fixture
def drip() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.close()


def test_a_dripped_body_hits_the_total_deadline(drip: DripServer) -> None:
    with _client(timeout=1.0, max_retries=0) as client:
        started = time.monotonic()
        result = client.fetch(Request("src", "x", f"{drip.url}/drip"))
        elapsed = time.monotonic() - started
    assert result.error_kind == "unavailable" and "deadline" in (result.error or "")
    assert result.body is None
    assert 0.9 <= elapsed < 1.8  # every byte arrived well within the per-read timeout


def test_a_body_over_the_cap_is_refused_not_retried(server: FixtureServer) -> None:
    server.route(r"/big", lambda p, q: json_reply(b"x" * 5000))
    with _client(max_body_bytes=1024) as client:
        result = client.fetch(Request("src", "x", f"{server.url}/big"))
    assert result.http_status == 200 and result.body is None and result.attempts == 1
    assert "larger than 1,024 bytes" in (result.error or "")


def test_retry_after_beyond_the_cap_is_not_waited_for(server: FixtureServer) -> None:
    server.route(r"/busy", lambda p, q: json_reply(b"{}", 429, **{"Retry-After": "3600"}))
    seen: list[FetchResult] = []
    with _client(retry_after_max=5.0) as client:
        started = time.monotonic()
        result = client.fetch(Request("src", "x", f"{server.url}/busy"), on_attempt=seen.append)
    assert time.monotonic() - started < 1.0
    assert result.http_status == 429 and result.attempts == 1 and seen == []
    assert "retry after 3600 s" in (result.error or "")


def test_retries_stay_inside_the_budget_and_every_attempt_is_handed_over(server: FixtureServer) -> None:
    server.route(r"/flaky", sequence(json_reply(b"boom", 500), json_reply(b"{}")))
    seen: list[FetchResult] = []
    with _client() as client:
        result = client.fetch(Request("src", "x", f"{server.url}/flaky"), on_attempt=seen.append)
    # The first attempt's 500 is handed over (to be stored) before the retry that succeeds.
    assert [(r.http_status, r.body, r.attempts) for r in seen] == [(500, b"boom", 1)]
    assert result.ok and result.attempts == 2 and seen[0].fetch_id != result.fetch_id

    stalled = DripServer(stall=True)
    try:
        with _client(timeout=1.0, max_retries=10, backoff=0.05) as client:
            started = time.monotonic()
            result = client.fetch(Request("src", "x", f"{stalled.url}/x"), deadline=time.monotonic() + 2.5)
            elapsed = time.monotonic() - started
    finally:
        stalled.close()
    assert result.error_kind == "unavailable" and 2 <= result.attempts <= 3
    assert elapsed < 3.0  # ten retries allowed, the budget ends it


def test_a_stalled_source_does_not_hold_up_the_others(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source stalls; the pass ends in about its budget and the others were fetched meanwhile."""
    stalled = DripServer(stall=True)
    fast = FixtureServer().start()
    fast.route(r"/sbd/.*", lambda p, q: json_reply(b"{}"))
    fast.route(r"/srfeeds/.*", lambda p, q: json_reply(b"{}"))
    try:
        for key, value in {
            "MLB_STATS_BASE_URL": f"{stalled.url}/mlb",
            "SBD_BASE_URL": f"{fast.url}/sbd",
            "SBD_FEEDS_BASE_URL": f"{fast.url}/srfeeds",
            "HTTP_TIMEOUT_SECONDS": "1",
            "HTTP_SOURCE_BUDGET_SECONDS": "2.5",
            "HTTP_BACKOFF_SECONDS": "0.05",
            "MLB_STATS_MIN_INTERVAL_SECONDS": "0",
            "SBD_MIN_INTERVAL_SECONDS": "0",
        }.items():
            monkeypatch.setenv(f"MLBEDGE_{key}", value)
        get_settings.cache_clear()
        started = time.monotonic()
        report = ingest.run(get_settings(), sources=["mlb_stats", "sbd"])
        elapsed = time.monotonic() - started
    finally:
        stalled.close()
        fast.stop()
    assert elapsed < 6.0
    assert report.sources["sbd"].requests == 2  # not waiting behind the stalled source
    mlb = report.sources["mlb_stats"]
    assert mlb.ok == 0 and any("budget" in e for e in mlb.errors)
    # Every attempt against the stalled source is in raw.fetches.
    assert report.stored >= report.sources["sbd"].requests + mlb.requests


def test_cli_exit_codes_and_messages(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlbedge.cli.main import app

    runner = CliRunner()
    dead = f"http://127.0.0.1:{free_port()}"
    for key, value in {
        "SBD_BASE_URL": f"{dead}/sbd",
        "SBD_FEEDS_BASE_URL": f"{dead}/srfeeds",
        "HTTP_MAX_RETRIES": "0",
        "SBD_MIN_INTERVAL_SECONDS": "0",
    }.items():
        monkeypatch.setenv(f"MLBEDGE_{key}", value)
    get_settings.cache_clear()
    failed = runner.invoke(app, ["ingest", "run", "--sources", "sbd"])
    assert failed.exit_code == 1 and "every source failed this pass (sbd)" in failed.output

    # Parse failures are errors in the status.
    with psycopg.connect(get_settings().database_url) as conn:
        result = FetchResult(
            Request("vsin", "splits", "http://example.invalid/x"), datetime.now(UTC) - timedelta(hours=1),
            http_status=200, body=b"<html>not the page</html>",
        )  # fmt: skip
        store_fetch(conn, result)
        mark_parsed(conn, result.fetch_id, "failed", "no splits table in the page")
        conn.commit()
        by = {s.source: s for s in ingest.status(conn).sources}
    assert by["vsin"].errors_24h == 1 and "parse failed: no splits table" in (by["vsin"].last_error or "")

    monkeypatch.setenv("MLBEDGE_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    get_settings.cache_clear()
    down = runner.invoke(app, ["ingest", "status"])
    assert down.exit_code == 1 and "PostgreSQL unreachable" in down.output
    assert "Traceback" not in down.output


def test_settings_bound_a_pass(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    # Requests and retries of one source fit its budget, and a pass fits about one budget.
    assert s.http_timeout_seconds < s.http_source_budget_seconds <= 30
    assert s.http_retry_after_max_seconds <= 30 and s.http_max_body_bytes <= 64 * 1024 * 1024
