"""The one HTTP client every live source uses: polite per host, patient with 429/5xx, clear on 403.

Every request made is returned as a :class:`FetchResult`, success or not, so the caller can store
it raw (the time of every fetch survives, and so does every failure) before anything is parsed.
"""

from __future__ import annotations

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
        user_agent: str = "mlbedge",
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._intervals = dict(min_interval or {})
        self._default_interval = default_interval
        self._max_retries = max_retries
        self._backoff = backoff
        self._backoff_max = backoff_max
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
        delay = min(self._backoff * (2**attempt), self._backoff_max)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._backoff_max))
        return delay

    def fetch(self, request: Request) -> FetchResult:
        """Make the request (with retries); never raises for HTTP trouble, the result says what happened."""
        host = urlsplit(request.url).netloc
        started = time.monotonic()
        attempt = 0
        while True:
            self._wait_turn(host, request.source)
            retry_after: float | None = None
            try:
                response = self._client.get(
                    request.url, params=dict(request.params), headers=dict(request.headers)
                )
            except httpx.TimeoutException as exc:
                outcome = FetchResult(
                    request,
                    self._clock(),
                    error=f"timed out after {attempt + 1} attempt(s): {type(exc).__name__}",
                    error_kind="unavailable",
                )
            except httpx.TransportError as exc:
                outcome = FetchResult(
                    request,
                    self._clock(),
                    error=f"connection failed after {attempt + 1} attempt(s): {exc}",
                    error_kind="unavailable",
                )
            except httpx.HTTPError as exc:  # invalid URL and the like: retrying cannot help
                return FetchResult(
                    request,
                    self._clock(),
                    attempts=attempt + 1,
                    elapsed_ms=int((time.monotonic() - started) * 1000),
                    error=f"request failed: {exc}",
                    error_kind="http",
                )
            else:
                outcome = FetchResult(
                    request,
                    self._clock(),
                    http_status=response.status_code,
                    body=response.content,
                    content_type=response.headers.get("content-type"),
                )
                status = response.status_code
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
                    retry_after = retry_after_seconds(response.headers.get("retry-after"), self._clock())
                else:
                    outcome.error = f"HTTP {status}"
                    outcome.error_kind = "http"
            outcome.attempts = attempt + 1
            outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
            if outcome.error_kind != "unavailable" or attempt >= self._max_retries:
                return outcome
            self._sleep(self._delay(attempt, retry_after))
            attempt += 1
