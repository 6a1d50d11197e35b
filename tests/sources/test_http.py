"""The polite client against a real local HTTP server: spacing, retries, Retry-After, 403, timeouts."""

from __future__ import annotations

import itertools
import time

import pytest

from mlbedge.sources.http import (
    PoliteClient,
    Request,
    SourceBlockedError,
    SourceHTTPError,
    SourceUnavailableError,
    retry_after_seconds,
)
from tests.sources.server import FixtureServer, json_reply, sequence, slow


def _client(**kw: float) -> PoliteClient:
    options = {"default_interval": 0.0, "timeout": 2.0, "max_retries": 2, "backoff": 0.01, "backoff_max": 1.0}
    options.update(kw)
    return PoliteClient(**options)  # type: ignore[arg-type]


def test_requests_to_one_host_keep_the_minimum_gap(server: FixtureServer) -> None:
    """Each request after the first is held until its own slot, one interval after the previous.

    The sleep is recorded instead of slept, so the booked slots are exact and the test does not
    depend on how busy the machine is: request k is released at (call time + requested wait).
    """
    server.route(r"/ping", lambda p, q: json_reply(b"{}"))
    releases: list[float] = []

    def record(seconds: float) -> None:
        releases.append(time.monotonic() + seconds)

    with PoliteClient(min_interval={"src": 5.0}, default_interval=0.0, timeout=2, sleep=record) as client:
        for _ in range(4):
            assert client.fetch(Request("src", "ping", f"{server.url}/ping")).ok
    assert len(server.hits) == 4 and len(releases) == 3
    gaps = [b - a for a, b in itertools.pairwise(releases)]
    assert gaps == pytest.approx([5.0, 5.0], abs=0.05)  # the recorder reads the clock a moment later


def test_429_then_success_honours_retry_after(server: FixtureServer) -> None:
    server.route(
        r"/limited",
        sequence(json_reply(b"slow down", 429, **{"Retry-After": "0.3"}), json_reply(b'{"ok": true}')),
    )
    with _client() as client:
        result = client.fetch(Request("src", "x", f"{server.url}/limited"))
    assert result.ok and result.http_status == 200 and result.body == b'{"ok": true}'
    assert result.attempts == 2
    hits = server.hits_for("/limited")
    assert hits[1].at - hits[0].at >= 0.29  # waited what Retry-After asked, not the 0.01 s backoff


def test_5xx_that_persists_ends_as_unavailable_after_every_retry(server: FixtureServer) -> None:
    server.route(r"/down", lambda p, q: json_reply(b"oops", 503))
    with _client(max_retries=2) as client:
        result = client.fetch(Request("src", "x", f"{server.url}/down"))
    assert not result.ok and result.http_status == 503 and result.attempts == 3
    assert len(server.hits_for("/down")) == 3
    with pytest.raises(SourceUnavailableError, match="HTTP 503"):
        result.raise_for_error()


def test_403_is_not_retried_and_says_the_source_blocked_the_request(server: FixtureServer) -> None:
    server.route(r"/blocked", lambda p, q: (403, {"Content-Type": "text/html"}, b"<h1>Access denied</h1>"))
    with _client() as client:
        result = client.fetch(Request("vsin", "splits", f"{server.url}/blocked"))
    assert result.http_status == 403 and result.attempts == 1 and len(server.hits) == 1
    assert result.body == b"<h1>Access denied</h1>"  # kept: the block page is stored raw too
    assert result.error_kind == "blocked"
    with pytest.raises(SourceBlockedError, match=r"vsin: the source blocked the request \(HTTP 403"):
        result.raise_for_error()


def test_timeouts_are_retried_then_reported(server: FixtureServer) -> None:
    server.route(r"/slow", slow(json_reply(b"{}"), 1.0))
    with _client(timeout=0.2, max_retries=1) as client:
        result = client.fetch(Request("src", "x", f"{server.url}/slow"))
    assert result.http_status is None and result.body is None
    assert result.attempts == 2 and "timed out" in (result.error or "")
    with pytest.raises(SourceUnavailableError, match="timed out"):
        result.raise_for_error()


def test_404_is_an_http_error_not_retried(server: FixtureServer) -> None:
    with _client() as client:
        result = client.fetch(Request("src", "x", f"{server.url}/nothing-here"))
    assert result.http_status == 404 and result.attempts == 1
    with pytest.raises(SourceHTTPError, match="HTTP 404"):
        result.raise_for_error()


def test_connection_refused_is_unavailable() -> None:
    with _client(max_retries=1) as client:
        result = client.fetch(Request("src", "x", "http://127.0.0.1:9/none"))
    assert (
        result.error_kind == "unavailable"
        and result.attempts == 2
        and "connection failed" in (result.error or "")
    )


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2025, 6, 13, 20, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Fri, 13 Jun 2025 20:00:30 GMT", now) == 30.0
    assert retry_after_seconds("garbage", now) is None
    assert retry_after_seconds(None, now) is None
