"""Data freshness per live source, from the fetch log (``raw.fetches``).

Every request the ingestion makes is logged with its time, HTTP status, fetch error and parse
status. For each source that was ever fetched, :func:`source_freshness` reads:

- the last fetch of any kind, the last successful one (2xx, no error), and the last **usable**
  one: successful and not failed to parse (a source that answers 200 with a page the parser no
  longer understands is as stale as one that does not answer: its format changed);
- the fetches of the last 24 hours, and how many of them failed (to fetch or to parse).

:func:`check_freshness` warns when a source's last usable fetch is older than
``monitor_stale_hours`` (critical after ``monitor_stale_critical_hours``), or, for a source fetched on
a regular cadence (the median gap between its usable fetches over 3 days), after
``monitor_stale_beats`` missed beats (critical at three times that), and warns when at least
``monitor_fetch_error_rate`` of its last 24 hours of fetches failed. A staleness alert's window is
the time of the last usable fetch ("stale since"), so a source that stays stale keeps one alert
whose evidence is refreshed on every run; a fresh source closes its alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from mlbedge.monitoring.alerts import FRESHNESS, Finding, Severity
from mlbedge.settings import Settings, get_settings

MIN_FETCHES_FOR_ERROR_RATE = 4  # fewer fetches in 24 h say nothing about an error rate


@dataclass(frozen=True)
class SourceFreshness:
    """What the fetch log says about one source at ``now``."""

    source: str
    now: datetime
    last_fetch: datetime
    last_ok: datetime | None
    last_usable: datetime | None
    fetches_24h: int
    failed_24h: int
    severity: Severity | None = None
    reason: str | None = None
    problem: str | None = None  # stale, never_usable or errors (None: healthy)
    cadence_hours: float | None = None  # median gap between usable fetches, last 3 days

    @property
    def age_hours(self) -> float | None:
        """Hours since the last usable fetch (None: never one)."""
        if self.last_usable is None:
            return None
        return (self.now - self.last_usable).total_seconds() / 3600.0

    @property
    def error_rate_24h(self) -> float | None:
        """Failed share of the last 24 hours' fetches (None: none made)."""
        return self.failed_24h / self.fetches_24h if self.fetches_24h else None


_CADENCE = """
SELECT source, percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS cadence, count(*) AS gaps
FROM (
    SELECT source,
           extract(epoch FROM fetched_at - lag(fetched_at) OVER (PARTITION BY source ORDER BY fetched_at))
               / 3600.0 AS gap
    FROM raw.fetches
    WHERE fetched_at <= %(now)s AND fetched_at > %(since)s
      AND fetch_error IS NULL AND http_status BETWEEN 200 AND 299 AND parse_status <> 'failed'
) g
WHERE gap IS NOT NULL
GROUP BY source
"""
MIN_GAPS_FOR_CADENCE = 8  # fewer usable fetches in 3 days: no regular cadence to miss

_QUERY = """
SELECT source,
       max(fetched_at) AS last_fetch,
       max(fetched_at) FILTER (WHERE ok) AS last_ok,
       max(fetched_at) FILTER (WHERE ok AND parse_status <> 'failed') AS last_usable,
       count(*) FILTER (WHERE fetched_at > %(since)s) AS fetches_24h,
       count(*) FILTER (WHERE fetched_at > %(since)s AND NOT (ok AND parse_status <> 'failed')) AS failed_24h
FROM (
    SELECT source, fetched_at, parse_status,
           (fetch_error IS NULL AND http_status BETWEEN 200 AND 299) AS ok
    FROM raw.fetches WHERE fetched_at <= %(now)s
) f
GROUP BY source
ORDER BY source
"""


def source_freshness(
    conn: psycopg.Connection, *, now: datetime | None = None, settings: Settings | None = None
) -> list[SourceFreshness]:
    """Each source's fetch times and recent failures at ``now`` (default: the current time),
    with the severity and reason of what is wrong (None when the source is healthy)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    rows = conn.execute(_QUERY, {"now": now, "since": now - timedelta(hours=24)}).fetchall()
    cadences = {
        source: float(cadence)
        for source, cadence, gaps in conn.execute(
            _CADENCE, {"now": now, "since": now - timedelta(hours=72)}
        ).fetchall()
        if gaps >= MIN_GAPS_FOR_CADENCE and cadence is not None
    }
    out = []
    for source, last_fetch, last_ok, last_usable, fetches, failed in rows:
        # In UTC whatever the session's time zone: the times make the alerts' window keys.
        entry = SourceFreshness(
            source,
            now.astimezone(UTC),
            _utc(last_fetch),
            _utc(last_ok),
            _utc(last_usable),
            int(fetches),
            int(failed),
            cadence_hours=cadences.get(source),
        )
        severity, reason, problem = _judge(entry, settings)
        out.append(
            SourceFreshness(**{**entry.__dict__, "severity": severity, "reason": reason, "problem": problem})
        )
    return out


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def stale_limits(cadence_hours: float | None, settings: Settings) -> tuple[float, float]:
    """Hours of silence at which a source warns and is critical: ``monitor_stale_beats`` missed
    beats of its own cadence (and three times that), capped by the fixed
    ``monitor_stale_hours``/``monitor_stale_critical_hours`` that also apply without a cadence."""
    if cadence_hours is None or cadence_hours <= 0:
        return settings.monitor_stale_hours, settings.monitor_stale_critical_hours
    warn_at = min(settings.monitor_stale_hours, settings.monitor_stale_beats * cadence_hours)
    return warn_at, min(settings.monitor_stale_critical_hours, 3.0 * warn_at)


def _judge(s: SourceFreshness, settings: Settings) -> tuple[Severity | None, str | None, str | None]:
    age = s.age_hours
    if age is None:
        return "critical", f"no usable fetch ever (last attempt {s.last_fetch.isoformat()})", "never_usable"
    warn_at, critical_at = stale_limits(s.cadence_hours, settings)
    beat = f", usually every {s.cadence_hours * 60:.0f} min" if s.cadence_hours else ""
    if age >= critical_at:
        return "critical", f"no usable fetch for {age:.1f} h (critical at {critical_at:.2g} h{beat})", "stale"
    if age >= warn_at:
        return "warning", f"no usable fetch for {age:.1f} h (warns at {warn_at:.2g} h{beat})", "stale"
    rate = s.error_rate_24h
    if (
        rate is not None
        and s.fetches_24h >= MIN_FETCHES_FOR_ERROR_RATE
        and rate >= settings.monitor_fetch_error_rate
    ):
        return "warning", f"{s.failed_24h} of {s.fetches_24h} fetches failed in the last 24 h", "errors"
    return None, None, None


def _window(s: SourceFreshness) -> str:
    if s.problem == "stale" and s.last_usable is not None:
        return f"stale since {s.last_usable.isoformat()}"
    if s.problem == "never_usable":
        return "never usable"
    # An error-rate alert: one per day, however often the check runs that day.
    return f"errors on {s.now.date().isoformat()}"


def _look_at(s: SourceFreshness) -> str:
    if s.problem == "errors" or (s.last_ok is not None and s.last_usable != s.last_ok):
        return f"the {s.source} fetch errors and parse failures in raw.fetches (a changed format?)"
    return f"the ingest worker's schedule and the {s.source} endpoint (is it still being fetched?)"


def check_freshness(
    conn: psycopg.Connection, *, now: datetime | None = None, settings: Settings | None = None
) -> tuple[list[SourceFreshness], list[Finding]]:
    """Every source's freshness and a finding for each stale or failing one."""
    sources = source_freshness(conn, now=now, settings=settings)
    findings = [
        Finding(
            kind=FRESHNESS,
            subject=s.source,
            window=_window(s),
            severity=s.severity,
            message=f"source {s.source}: {s.reason}. Look at {_look_at(s)}.",
            evidence={
                "now": s.now.isoformat(),
                "last_fetch": s.last_fetch.isoformat(),
                "last_ok": s.last_ok.isoformat() if s.last_ok else None,
                "last_usable": s.last_usable.isoformat() if s.last_usable else None,
                "age_hours": round(s.age_hours, 3) if s.age_hours is not None else None,
                "fetches_24h": s.fetches_24h,
                "failed_24h": s.failed_24h,
                "cadence_hours": s.cadence_hours,
                "look_at": _look_at(s),
            },
        )
        for s in sources
        if s.severity is not None
    ]
    return sources, findings
