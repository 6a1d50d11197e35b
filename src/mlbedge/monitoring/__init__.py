"""Watching the model and its inputs: feature and importance drift, degradation, freshness, alerts.

``run_monitor`` (:mod:`mlbedge.monitoring.runner`) runs every check and stores the alerts;
``list_alerts`` and ``Alert`` (:mod:`mlbedge.monitoring.alerts`) are what the API serves.
"""

from mlbedge.monitoring.alerts import Alert, Finding, list_alerts, raise_alerts, resolve_alert

__all__ = ["Alert", "Finding", "list_alerts", "raise_alerts", "resolve_alert"]
