"""Alerts in PostgreSQL (``monitoring.alerts``): raised by the checks, listed by the CLI and the API.

A check returns :class:`Finding` objects: what fired (``kind``), about what (``subject``: a
feature, a target, a model, a source), for which window (``window``), how bad (``severity``) and
the numbers behind it (``evidence``). :func:`raise_alerts` stores them idempotently: one row per
``(kind, subject, window)``, so running the same check on the same window twice leaves one alert
(its evidence refreshed, its ``created_at`` kept). A newer window of the same kind and subject
supersedes the older open alert, so at most one alert per kind and subject is open at a time;
:func:`resolve_cleared` closes the open alerts of subjects a check found healthy again.

:func:`list_alerts` and the :class:`Alert` model are what ``GET /v1/alerts`` serves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

Severity = Literal["info", "warning", "critical"]
Resolution = Literal["cleared", "superseded", "manual"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

# The kinds of alert the checks raise (the `kind` column).
FEATURE_DRIFT = "feature_drift"
IMPORTANCE_DRIFT = "importance_drift"
PERFORMANCE = "performance"
CLV = "clv"
FRESHNESS = "freshness"
MISSING_VALUES = "missing_values"
CONSTANT_VALUES = "constant_values"
SCALE_JUMP = "scale_jump"
SIDES_SWAPPED = "sides_swapped"
CLOCK = "clock"
PREDICTION_SHIFT = "prediction_shift"
PIPELINE_EMPTY = "pipeline_empty"  # the schedule lists games the daily pipeline could not serve
KINDS: tuple[str, ...] = (
    PIPELINE_EMPTY,
    MISSING_VALUES,
    CONSTANT_VALUES,
    SCALE_JUMP,
    SIDES_SWAPPED,
    CLOCK,
    FRESHNESS,
    PREDICTION_SHIFT,
    PERFORMANCE,
    CLV,
    FEATURE_DRIFT,
    IMPORTANCE_DRIFT,
)


@dataclass(frozen=True)
class Finding:
    """One thing a check found wrong, before it is stored."""

    kind: str
    subject: str
    window: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"finding {self.kind}/{self.subject}: unknown severity {self.severity!r}")


class Alert(BaseModel):
    """A stored alert (the API's response item)."""

    alert_id: int = Field(description="Stable id of the alert.")
    kind: str = Field(description="What fired: " + ", ".join(KINDS) + ".")
    subject: str = Field(description="What it is about: a feature, a target, a model or a source.")
    window: str = Field(description="The window the check looked at; one alert per kind, subject, window.")
    severity: Severity
    message: str = Field(description="One line a person can act on.")
    evidence: dict[str, Any] = Field(default_factory=dict, description="The numbers behind it.")
    created_at: datetime = Field(description="When it first fired.")
    updated_at: datetime = Field(description="When a check last confirmed it.")
    resolved_at: datetime | None = Field(default=None, description="When it was closed; null while open.")
    resolution: Resolution | None = Field(default=None, description="Why it was closed.")

    @property
    def is_open(self) -> bool:
        """True until the alert is resolved."""
        return self.resolved_at is None


@dataclass(frozen=True)
class RaisedAlert:
    """An alert as :func:`raise_alerts` left it: ``new`` when this call created it, and the id of
    the open alert it superseded, if any."""

    alert: Alert
    new: bool
    superseded: int | None = None


_COLUMNS = (
    "alert_id, kind, subject, window_key AS window, severity, message, evidence, created_at, "
    "updated_at, resolved_at, resolution"
)


def _alert(row: dict[str, Any]) -> Alert:
    return Alert.model_validate(row)


def raise_alerts(
    conn: psycopg.Connection, findings: Iterable[Finding], *, now: datetime | None = None
) -> list[RaisedAlert]:
    """Store ``findings`` (idempotent per kind, subject and window); return each stored alert.

    A finding already stored for its window updates that row's severity, message and evidence
    (and reopens it if it was resolved as cleared). The caller owns the transaction.
    """
    raised: list[RaisedAlert] = []
    with conn.cursor(row_factory=dict_row) as cur:
        for f in findings:
            stamp = now if now is not None else datetime.now().astimezone()
            cur.execute(
                f"""
                INSERT INTO monitoring.alerts AS a
                    (kind, subject, window_key, severity, message, evidence, created_at, updated_at)
                VALUES (%(kind)s, %(subject)s, %(window)s, %(severity)s, %(message)s, %(evidence)s,
                        %(now)s, %(now)s)
                ON CONFLICT (kind, subject, window_key) DO UPDATE SET
                    severity = EXCLUDED.severity,
                    message = EXCLUDED.message,
                    evidence = EXCLUDED.evidence,
                    updated_at = EXCLUDED.updated_at,
                    resolved_at = CASE WHEN a.resolution = 'cleared' THEN NULL ELSE a.resolved_at END,
                    resolution = CASE WHEN a.resolution = 'cleared' THEN NULL ELSE a.resolution END
                RETURNING {_COLUMNS}, (xmax = 0) AS inserted
                """,
                {
                    "kind": f.kind,
                    "subject": f.subject,
                    "window": f.window,
                    "severity": f.severity,
                    "message": f.message,
                    "evidence": json.dumps(f.evidence, default=str, allow_nan=False),
                    "now": stamp,
                },
            )
            row = cur.fetchone()
            assert row is not None  # INSERT ... RETURNING always returns the row
            inserted = bool(row.pop("inserted"))
            # Older open alerts of the same kind and subject describe an earlier window.
            cur.execute(
                """
                UPDATE monitoring.alerts SET resolved_at = %s, resolution = 'superseded'
                WHERE kind = %s AND subject = %s AND window_key <> %s AND resolved_at IS NULL
                  AND created_at <= %s
                RETURNING alert_id
                """,
                (stamp, f.kind, f.subject, f.window, row["created_at"]),
            )
            superseded = [r["alert_id"] for r in cur.fetchall()]
            raised.append(RaisedAlert(_alert(row), inserted, superseded[0] if superseded else None))
    return raised


def resolve_cleared(
    conn: psycopg.Connection,
    kind: str,
    checked: Iterable[str],
    firing: Iterable[str],
    *,
    now: datetime | None = None,
) -> list[int]:
    """Close the open ``kind`` alerts of subjects that were ``checked`` and are not ``firing`` now.

    Subjects not checked this time (a feature the recent window could not measure) keep their
    alerts open. Returns the ids closed.
    """
    quiet = sorted(set(checked) - set(firing))
    if not quiet:
        return []
    rows = conn.execute(
        """
        UPDATE monitoring.alerts SET resolved_at = %s, resolution = 'cleared'
        WHERE kind = %s AND subject = ANY(%s) AND resolved_at IS NULL
        RETURNING alert_id
        """,
        (now or datetime.now().astimezone(), kind, quiet),
    ).fetchall()
    return sorted(r[0] for r in rows)


def resolve_alert(conn: psycopg.Connection, alert_id: int, *, now: datetime | None = None) -> Alert:
    """Close one alert by hand; LookupError when no such alert exists. Closing twice is harmless."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""
            UPDATE monitoring.alerts
            SET resolved_at = COALESCE(resolved_at, %s), resolution = COALESCE(resolution, 'manual')
            WHERE alert_id = %s RETURNING {_COLUMNS}
            """,
            (now or datetime.now().astimezone(), alert_id),
        )
        row = cur.fetchone()
    if row is None:
        raise LookupError(f"no alert with id {alert_id} in monitoring.alerts")
    return _alert(row)


def list_alerts(
    conn: psycopg.Connection,
    *,
    status: Literal["open", "resolved", "all"] = "open",
    kinds: Sequence[str] | None = None,
    min_severity: Severity = "info",
    subject: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Stored alerts, most severe then newest first.

    ``status`` open (default), resolved or all; ``kinds`` limits the kinds; ``min_severity``
    drops the milder ones; ``since`` keeps alerts last confirmed at or after that time.
    """
    if min_severity not in SEVERITY_RANK:
        raise ValueError(f"unknown severity {min_severity!r}; one of {', '.join(SEVERITY_RANK)}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    conditions = [sql.SQL("severity = ANY(%(severities)s)")]
    params: dict[str, Any] = {
        "severities": [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[min_severity]],
        "limit": limit,
    }
    if status == "open":
        conditions.append(sql.SQL("resolved_at IS NULL"))
    elif status == "resolved":
        conditions.append(sql.SQL("resolved_at IS NOT NULL"))
    elif status != "all":
        raise ValueError(f"unknown status {status!r}; one of open, resolved, all")
    if kinds is not None:
        conditions.append(sql.SQL("kind = ANY(%(kinds)s)"))
        params["kinds"] = list(kinds)
    if subject is not None:
        conditions.append(sql.SQL("subject = %(subject)s"))
        params["subject"] = subject
    if since is not None:
        conditions.append(sql.SQL("updated_at >= %(since)s"))
        params["since"] = since
    query = sql.SQL(
        "SELECT " + _COLUMNS + " FROM monitoring.alerts WHERE {} "
        "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, "
        "created_at DESC, alert_id DESC LIMIT %(limit)s"
    ).format(sql.SQL(" AND ").join(conditions))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return [_alert(row) for row in cur.fetchall()]


class AlertGroup(BaseModel):
    """The alerts of one kind, worst first: what a person reads first."""

    kind: str = Field(description="What fired (see Alert.kind).")
    severity: Severity = Field(description="The worst severity in the group.")
    count: int = Field(description="How many alerts the group holds.")
    subjects: list[str] = Field(description="What they are about: families, sources, targets.")
    look_at: list[str] = Field(default_factory=list, description="Where to look, from their evidence.")
    evidence: list[str] = Field(default_factory=list, description="One line of numbers per alert.")
    alert_ids: list[int] = Field(description="The alerts in the group, worst first.")


_EVIDENCE_KEYS = (
    "z",
    "spread_ratio",
    "null_share_today",
    "outside_share_today",
    "age_hours",
    "cadence_hours",
    "mean_gap_open",
    "gap_open",
    "psi",
    "n_unusual",
    "games",
)


def evidence_line(alert: Alert) -> str:
    """The numbers behind an alert in one short line: its headline numbers and the features named."""
    ev = alert.evidence
    parts = [
        f"{k}={round(v, 3) if isinstance(v, float) else v}"
        for k in _EVIDENCE_KEYS
        if isinstance((v := ev.get(k)), int | float) and not isinstance(v, bool)
    ]
    features = ev.get("features")
    if isinstance(features, dict) and features:
        names = list(features)
        parts.append(
            "features: " + ", ".join(names[:5]) + (f" (+{len(names) - 5})" if len(names) > 5 else "")
        )
    return f"{alert.subject}: " + ("; ".join(parts) if parts else alert.window)


def group_alerts(alerts: Sequence[Alert]) -> list[AlertGroup]:
    """Alerts grouped by kind, the most severe group first (then the larger, then by kind)."""
    groups: dict[str, list[Alert]] = {}
    for a in alerts:
        groups.setdefault(a.kind, []).append(a)
    out = []
    for kind, members in groups.items():
        members = sorted(members, key=lambda a: (-SEVERITY_RANK[a.severity], a.subject))
        looks = list(dict.fromkeys(str(a.evidence["look_at"]) for a in members if a.evidence.get("look_at")))
        out.append(
            AlertGroup(
                kind=kind,
                severity=members[0].severity,
                count=len(members),
                subjects=list(dict.fromkeys(a.subject for a in members)),
                look_at=looks,
                evidence=[evidence_line(a) for a in members],
                alert_ids=[a.alert_id for a in members],
            )
        )
    return sorted(out, key=lambda g: (-SEVERITY_RANK[g.severity], -g.count, g.kind))
