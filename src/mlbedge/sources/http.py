"""The one HTTP client every live source uses: polite per host, patient with 429/5xx, clear on 403,
and bounded in time and memory.

Every request made is returned as a :class:`FetchResult`, success or not, so the caller can store
it raw (the time of every fetch survives, and so does every failure) before anything is parsed;
an attempt that is retried is handed to ``on_attempt`` first, so it is stored too.

Bounds: each attempt has a total deadline (``timeout``: connect, headers and body together, so a
body dripped byte by byte is cut off), a body larger than ``max_body_bytes`` is refused while it
streams (never held whole), ``Retry-After`` is honoured up to ``retry_after_max`` (a server asking
for longer is not retried this pass), retry delays carry jitter, and a caller's ``deadline`` (the
source's budget for the pass) ends retries and shortens the last attempt.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from mlbedge.settings import Settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SourceError(RuntimeError):
    """A request to a live source that did not give a usable response."""

    def __init__(self, source: str, url: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{source}: {message} ({url})")
        self.source = source
        self.url = url
        self.status = status


class SourceBlockedError(SourceError):
    """HTTP 403: the source refused this client (bot protection, ToS). Retrying will not help now."""


class SourceUnavailableError(SourceError):
    """429, 5xx, timeouts or connection failures that outlasted every retry."""


class SourceHTTPError(SourceError):
    """Any other non-success status (404, 400, ...), not retried."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the clock every fetch is stamped with)."""
    return datetime.now(UTC)


class ReplayClock:
    """A clock that reads ``start`` when made and runs on from there at the real pace.

    Replaying a recorded day as live: every fetch is stamped as if made at ``start`` (plus the
    seconds the pass took, so fetches keep their order), and every rule that reads the fetch
    time (``observed_at``, "fetched after first pitch") sees the replayed moment.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"the replay time {start.isoformat()} has no time zone")
        self.start = start.astimezone(UTC)
        self._t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._t0)


def clock_at(now: datetime | None) -> Callable[[], datetime]:
    """The real UTC clock, or a :class:`ReplayClock` from ``now`` when given."""
    return utcnow if now is None else ReplayClock(now)


@dataclass(frozen=True)
class Request:
    """One GET to make: which source and endpoint it serves, and what the parser will need to know.

    ``context`` holds facts the client knew when it asked that the payload itself lacks (e.g. the
    first pitch of the game whose line history is requested); it is stored with the raw fetch so a
    re-parse sees exactly what the first parse saw.
    """

    source: str
    endpoint: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class FetchResult:
    """What one request produced. ``fetched_at`` is when the (last) response arrived."""

    request: Request
    fetched_at: datetime
    http_status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    attempts: int = 1
    elapsed_ms: int = 0
    error: str | None = None
    error_kind: str | None = None  # blocked | unavailable | http
    fetch_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def ok(self) -> bool:
        """A 2xx response (204 "no games" included) with no error."""
        return self.error is None and self.http_status is not None and 200 <= self.http_status < 300

    def raise_for_error(self) -> None:
        """Raise the typed :class:`SourceError` this fetch ended with, if any."""
        if self.error is None:
            return
        cls = {"blocked": SourceBlockedError, "unavailable": SourceUnavailableError}.get(
            self.error_kind or "", SourceHTTPError
        )
        raise cls(self.request.source, self.request.url, self.error, self.http_status)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class PoliteClient:
    """An httpx client with a minimum gap between requests to one host and bounded retries.

    Retries 429, 500, 502, 503, 504, timeouts and connection errors with exponential backoff
    (``backoff * 2**attempt``, at most ``backoff_max``), waiting at least what ``Retry-After`` asks
    (also capped). A 403 is not retried: the result says the source blocked the request.
    """

    def __init__(
        self,
        *,
        min_interval: Mapping[str, float] | None = None,
        default_interval: float = 1.0,
        timeout: float = 20.0,
        max_retries: int = 4,
        backoff: float = 2.0,
        backoff_max: float = 120.0,
        retry_after_max: float = 30.0,
        max_body_bytes: int = 16 * 1024 * 1024,
        jitter: float = 0.5,
        user_agent: str = "mlbedge",
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._intervals = dict(min_interval or {})
        self._default_interval = default_interval
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._retry_after_max = retry_after_max
        self._max_body_bytes = max_body_bytes
        self._jitter = jitter
        self._clock = clock
        self._sleep = sleep
        self._next_allowed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            headers={"User-Agent": user_agent, "Accept": "application/json, text/html;q=0.9, */*;q=0.5"},
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PoliteClient:
        """A client configured from ``settings`` (per-source gaps, timeout, retries, backoff)."""
        options: dict[str, Any] = {
            "min_interval": {
                "mlb_stats": settings.mlb_stats_min_interval_seconds,
                "action_network": settings.action_network_min_interval_seconds,
                "vsin": settings.vsin_min_interval_seconds,
                "sbd": settings.sbd_min_interval_seconds,
            },
            "timeout": settings.http_timeout_seconds,
            "max_retries": settings.http_max_retries,
            "backoff": settings.http_backoff_seconds,
            "backoff_max": settings.http_backoff_max_seconds,
            "retry_after_max": settings.http_retry_after_max_seconds,
            "max_body_bytes": settings.http_max_body_bytes,
            "user_agent": settings.http_user_agent,
        }
        options.update(overrides)
        return cls(**options)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_turn(self, host: str, source: str) -> None:
        """Block until this host may be asked again, then book the next slot."""
        interval = self._intervals.get(source, self._default_interval)
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_allowed.get(host, now))
            self._next_allowed[host] = start + interval
        if start > now:
            self._sleep(start - now)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (a random share of up to ``jitter`` taken off, so many
        clients retrying together spread out), at least what ``Retry-After`` asks."""
        delay = min(self._backoff * (2**attempt), self._backoff_max)
        delay *= 1.0 - self._jitter * random.random()
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def fetch(
        self,
        request: Request,
        *,
        deadline: float | None = None,
        on_attempt: Callable[[FetchResult], None] | None = None,
    ) -> FetchResult:
        """Make the request (with retries); never raises for HTTP trouble, the result says what happened.

        ``deadline`` (a ``time.monotonic()`` value): no retry starts after it and no attempt runs
        past it. ``on_attempt`` receives every attempt that is retried (the returned result is
        the last attempt).
        """
        host = urlsplit(request.url).netloc
        started = time.monotonic()
        attempt = 0
        while True:
            self._wait_turn(host, request.source)
            attempt_deadline = time.monotonic() + self._timeout
            if deadline is not None:
                attempt_deadline = min(attempt_deadline, deadline)
            outcome, retry_after = self._attempt(request, attempt, attempt_deadline)
            outcome.attempts = attempt + 1
            outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
            if outcome.error_kind != "unavailable" or attempt >= self._max_retries:
                return outcome
            if retry_after is not None and retry_after > self._retry_after_max:
                outcome.error = (
                    f"{outcome.error}; the source asks to retry after {retry_after:.0f} s "
                    f"(more than {self._retry_after_max:g} s): not retried this pass"
                )
                return outcome
            delay = self._delay(attempt, retry_after)
            if deadline is not None and time.monotonic() + delay >= deadline:
                outcome.error = f"{outcome.error}; the source's time budget for this pass is spent"
                return outcome
            if on_attempt is not None:
                on_attempt(outcome)
            self._sleep(delay)
            attempt += 1

    def _attempt(self, request: Request, attempt: int, deadline: float) -> tuple[FetchResult, float | None]:
        """One GET within ``deadline`` (connect, headers and every byte of the body), the body
        streamed and refused once it passes ``max_body_bytes``; and the ``Retry-After`` asked."""
        remaining = max(0.05, deadline - time.monotonic())
        limit = self._max_body_bytes
        try:
            with self._client.stream(
                "GET",
                request.url,
                params=dict(request.params),
                headers=dict(request.headers),
                timeout=httpx.Timeout(remaining),
            ) as response:
                declared = response.headers.get("content-length", "")
                too_large = declared.isdigit() and int(declared) > limit
                chunks: list[bytes] = []
                size = 0
                if not too_large:
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > limit:
                            too_large = True
                            break
                        chunks.append(chunk)
                        if time.monotonic() > deadline:
                            raise _DeadlinePassedError
                status = response.status_code
                content_type = response.headers.get("content-type")
                retry_header = response.headers.get("retry-after")
        except _DeadlinePassedError:
            return self._failed(
                request, f"timed out after {attempt + 1} attempt(s): the body was still arriving at the "
                f"{self._timeout:g} s deadline", "unavailable"
            ), None  # fmt: skip
        except httpx.TimeoutException as exc:
            return self._failed(
                request, f"timed out after {attempt + 1} attempt(s): {type(exc).__name__}", "unavailable"
            ), None
        except httpx.TransportError as exc:
            return self._failed(
                request, f"connection failed after {attempt + 1} attempt(s): {exc}", "unavailable"
            ), None
        except httpx.HTTPError as exc:  # invalid URL and the like: retrying cannot help
            return self._failed(request, f"request failed: {exc}", "http"), None
        if too_large:
            # Not kept: holding it is what the limit prevents. Retrying would fetch it again.
            outcome = FetchResult(request, self._clock(), http_status=status, content_type=content_type)
            outcome.error = f"response body larger than {limit:,} bytes: refused"
            outcome.error_kind = "http"
            return outcome, None
        outcome = FetchResult(
            request, self._clock(), http_status=status, body=b"".join(chunks), content_type=content_type
        )
        retry_after: float | None = None
        if 200 <= status < 300:
            pass
        elif status == 403:
            outcome.error = (
                f"the source blocked the request (HTTP 403 Forbidden): {request.source} refuses "
                "this client; not retried, try again later or more slowly"
            )
            outcome.error_kind = "blocked"
        elif status in RETRY_STATUSES:
            outcome.error = f"HTTP {status} after {attempt + 1} attempt(s)"
            outcome.error_kind = "unavailable"
            retry_after = retry_after_seconds(retry_header, self._clock())
        else:
            outcome.error = f"HTTP {status}"
            outcome.error_kind = "http"
        return outcome, retry_after

    def _failed(self, request: Request, error: str, kind: str) -> FetchResult:
        return FetchResult(request, self._clock(), error=error, error_kind=kind)


class _DeadlinePassedError(Exception):
    """An attempt's total deadline passed while its body was still arriving."""
