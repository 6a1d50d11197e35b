"""Monitoring alerts: drift, degradation and freshness, as ``mlbedge monitor`` stored them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from mlbedge.monitoring import Alert, list_alerts
from mlbedge.monitoring.alerts import AlertGroup, Severity, group_alerts
from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.responses import VALIDATION_DOCS, error_docs, json_response

router = APIRouter(tags=["monitoring"])


class AlertsResponse(BaseModel):
    """Alerts, most severe then newest first."""

    groups: list[AlertGroup] = Field(
        default_factory=list, description="The same alerts grouped by kind, worst group first, with evidence."
    )
    alerts: list[Alert] = Field(description="The alerts that match.")


@router.get(
    "/v1/alerts",
    response_model=AlertsResponse,
    summary="Monitoring alerts",
    responses={**VALIDATION_DOCS, **error_docs(429, 503)},
)
def alerts(
    status: Annotated[
        Literal["open", "resolved", "all"], Query(description="Open, resolved or all.")
    ] = "open",
    min_severity: Annotated[Severity, Query(description="The least severe level to list.")] = "info",
    limit: Annotated[int, Query(ge=1, le=1000, description="Most alerts returned.")] = 100,
    state: ServingState = Depends(get_state),
) -> Response:
    """Stored alerts (input faults, freshness, the model's output and performance, drift), grouped
    by kind with the evidence, and as a flat list."""
    with state.connection() as conn:
        found = list_alerts(conn, status=status, min_severity=min_severity, limit=limit)
    return json_response(AlertsResponse(groups=group_alerts(found), alerts=found))
