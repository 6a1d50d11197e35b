"""Watching the model and its inputs: quiet on an ordinary day, loud on a real fault.

``run_monitor`` (:mod:`mlbedge.monitoring.runner`) runs every check and stores the alerts; the
checks judge the day against an ordinary day of the training seasons
(:mod:`mlbedge.monitoring.reference`, :mod:`mlbedge.monitoring.checks`), plus freshness,
performance and importance drift. ``list_alerts``, ``group_alerts`` and ``Alert``
(:mod:`mlbedge.monitoring.alerts`) are what the API and the dashboard serve;
:mod:`mlbedge.monitoring.faults` injects faults on purpose to measure the monitor.
"""

from mlbedge.monitoring.alerts import (
    Alert,
    AlertGroup,
    Finding,
    group_alerts,
    list_alerts,
    raise_alerts,
    resolve_alert,
)

__all__ = ["Alert", "AlertGroup", "Finding", "group_alerts", "list_alerts", "raise_alerts", "resolve_alert"]
