"""Alerts in PostgreSQL: one per (kind, subject, window), superseded by newer windows, cleared when
the check passes again, listed most severe first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from mlbedge.monitoring.alerts import Finding, list_alerts, raise_alerts, resolve_alert, resolve_cleared

T0 = datetime(2024, 7, 1, 12, tzinfo=UTC)


def _finding(subject: str, window: str, severity: str = "warning", psi: float = 0.2) -> Finding:
    return Finding("feature_drift", subject, window, severity, f"{subject} drifted", {"psi": psi})  # type: ignore[arg-type]


def _count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM monitoring.alerts").fetchone()[0]  # type: ignore[index]


def test_same_window_twice_is_one_alert(conn: psycopg.Connection) -> None:
    """Raising the same finding again updates its evidence and keeps one row and its created_at."""
    first = raise_alerts(conn, [_finding("elo_diff", "w1", psi=0.2)], now=T0)
    again = raise_alerts(conn, [_finding("elo_diff", "w1", "critical", psi=0.4)], now=T0 + timedelta(hours=1))
    assert first[0].new and not again[0].new
    assert _count(conn) == 1
    alert = again[0].alert
    assert alert.alert_id == first[0].alert.alert_id
    assert alert.created_at == T0 and alert.updated_at == T0 + timedelta(hours=1)
    assert alert.severity == "critical" and alert.evidence == {"psi": 0.4}
    assert alert.window == "w1" and alert.is_open


def test_newer_window_supersedes_and_a_healthy_check_clears(conn: psycopg.Connection) -> None:
    """At most one open alert per kind and subject; subjects found healthy are closed."""
    raise_alerts(conn, [_finding("elo_diff", "w1"), _finding("home_elo", "w1")], now=T0)
    later = raise_alerts(conn, [_finding("elo_diff", "w2")], now=T0 + timedelta(days=1))
    assert later[0].new and later[0].superseded is not None
    open_now = list_alerts(conn)
    assert sorted((a.subject, a.window) for a in open_now) == [("elo_diff", "w2"), ("home_elo", "w1")]
    superseded = list_alerts(conn, status="resolved")
    assert [(a.subject, a.window, a.resolution) for a in superseded] == [("elo_diff", "w1", "superseded")]

    # The next check measured both features; only elo_diff still drifts.
    closed = resolve_cleared(
        conn, "feature_drift", ["elo_diff", "home_elo"], ["elo_diff"], now=T0 + timedelta(days=2)
    )
    assert len(closed) == 1
    assert [a.subject for a in list_alerts(conn)] == ["elo_diff"]
    cleared = list_alerts(conn, status="resolved", subject="home_elo")[0]
    assert cleared.resolution == "cleared" and cleared.resolved_at == T0 + timedelta(days=2)
    # A subject that was not checked keeps its alert; the same window firing again reopens a cleared one.
    assert resolve_cleared(conn, "feature_drift", [], [], now=T0) == []
    reopened = raise_alerts(conn, [_finding("home_elo", "w1")], now=T0 + timedelta(days=3))
    assert not reopened[0].new and reopened[0].alert.is_open


def test_list_filters_and_manual_resolution(conn: psycopg.Connection) -> None:
    """Most severe first; filters by kind, severity and status; a manual resolve is final."""
    raise_alerts(
        conn,
        [
            _finding("a", "w", "warning"),
            Finding("freshness", "vsin", "stale since x", "critical", "vsin is stale"),
            Finding("performance", "moneyline", "last 500", "info", "fyi"),
        ],
        now=T0,
    )
    assert [a.severity for a in list_alerts(conn)] == ["critical", "warning", "info"]
    assert [a.kind for a in list_alerts(conn, min_severity="warning")] == ["freshness", "feature_drift"]
    assert [a.subject for a in list_alerts(conn, kinds=["performance"])] == ["moneyline"]
    assert len(list_alerts(conn, limit=1)) == 1
    target = list_alerts(conn, kinds=["freshness"])[0]
    done = resolve_alert(conn, target.alert_id, now=T0 + timedelta(minutes=5))
    assert done.resolution == "manual" and not done.is_open
    assert resolve_alert(conn, target.alert_id).resolved_at == done.resolved_at
    assert [a.kind for a in list_alerts(conn)] == ["feature_drift", "performance"]
    assert len(list_alerts(conn, status="all")) == 3
    with pytest.raises(LookupError, match="no alert with id 999999"):
        resolve_alert(conn, 999999)
    with pytest.raises(ValueError, match="unknown severity"):
        list_alerts(conn, min_severity="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown severity"):
        Finding("x", "y", "z", "loud", "m")  # type: ignore[arg-type]


def test_alerts_grouped_by_kind_with_evidence(conn: psycopg.Connection) -> None:
    """The API's groups and the dashboard panel: worst group first, where to look, the numbers."""
    from mlbedge.monitoring.alerts import group_alerts
    from mlbedge.serving.dashboard import _alerts_panel

    raise_alerts(
        conn,
        [
            Finding(
                "feature_drift", "team", "w", "warning", "team moved", {"n_unusual": 9, "look_at": "results"}
            ),
            Finding(
                "missing_values",
                "market",
                "day",
                "critical",
                "market features missing",
                {
                    "features": {"ml_home_prob": {}, "ml_overround": {}},
                    "games": 12,
                    "look_at": "the odds feed",
                },
            ),
            Finding("missing_values", "pitcher", "day", "warning", "pitcher features missing", {"games": 12}),
        ],
        now=T0,
    )
    groups = group_alerts(list_alerts(conn))
    assert [(g.kind, g.severity, g.count) for g in groups] == [
        ("missing_values", "critical", 2),
        ("feature_drift", "warning", 1),
    ]
    assert groups[0].subjects == ["market", "pitcher"] and groups[0].look_at == ["the odds feed"]
    assert groups[0].evidence[0] == "market: games=12; features: ml_home_prob, ml_overround"
    html = _alerts_panel(list_alerts(conn))
    assert html.index("missing_values") < html.index("feature_drift")
    assert "look at the odds feed" in html and "features: ml_home_prob, ml_overround" in html
    assert html.count('<tr class="alert" ') == 3 and html.count('class="alert-group"') == 2
    assert _alerts_panel([]).startswith('<p class="muted" id="alerts-none">')
