"""Liveness, readiness and the Prometheus metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
from fastapi import APIRouter, Depends, Response

import mlbedge
from mlbedge.serving.dependencies import DatabaseUnavailableError, ServingState, get_state
from mlbedge.serving.metrics import CONTENT_TYPE
from mlbedge.serving.responses import json_response
from mlbedge.serving.schemas import Check, Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Response:
    """Always 200 while the process runs (no dependency is touched)."""
    return json_response(Health(version=mlbedge.__version__))


def _database(state: ServingState) -> Check:
    started = time.perf_counter()
    try:
        # A readiness probe must answer quickly even when PostgreSQL does not.
        with state.connection(timeout=1.0) as conn:
            conn.execute("SELECT 1")
    except (DatabaseUnavailableError, psycopg.Error) as exc:
        return Check(ok=False, detail=str(exc))
    return Check(ok=True, latency_ms=(time.perf_counter() - started) * 1000)


def _redis(state: ServingState) -> Check:
    # The Redis behind the fallback wrapper, probed on its own: the fallback's health would
    # report PostgreSQL's when Redis is down.
    primary = getattr(state.store, "primary", state.store)
    probe = primary.health()
    return Check(ok=probe.ok, detail=probe.detail or probe.backend, latency_ms=probe.latency_ms)


def _online_store(state: ServingState, redis_ok: bool) -> Check | None:
    """Empty or stale online store (Redis answers but lacks what PostgreSQL has); None when
    the store cannot tell (no PostgreSQL fallback) or Redis is down (the redis check says so)."""
    coverage = getattr(state.store, "coverage", None)
    if coverage is None or not redis_ok:
        return None
    probe = coverage(datetime.now(UTC).date())
    return Check(ok=probe.ok, detail=probe.detail)


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: PostgreSQL, Redis and a model",
    responses={503: {"model": Readiness, "description": "Not ready: `missing` names what is down."}},
)
def ready(state: ServingState = Depends(get_state)) -> Response:
    """200 when predictions can be served: PostgreSQL answers, a champion model is loaded, and Redis
    answers (or, with the fallback on, its outage is covered by PostgreSQL: then ``degraded``).
    ``online_store`` (with the fallback on) says whether Redis holds what PostgreSQL has: an empty
    or stale store is listed in ``missing`` and ``degraded``, still ready (PostgreSQL answers)."""
    models = state.models.current
    checks = {
        "postgresql": _database(state),
        "redis": _redis(state),
        "model": Check(
            ok=bool(models.models),
            detail=", ".join(f"{t}: {m.name} v{m.version} ({m.source})" for t, m in models.models.items())
            or "; ".join(f"{t}: {r}" for t, r in models.unavailable.items()),
        ),
    }
    store = _online_store(state, checks["redis"].ok and checks["postgresql"].ok)
    if store is not None:
        checks["online_store"] = store
    missing = [name for name, check in checks.items() if not check.ok]
    fallback = state.settings.store_fallback and checks["postgresql"].ok
    # An empty or stale store is covered like a Redis outage: PostgreSQL answers the games.
    degraded = (not checks["redis"].ok or (store is not None and not store.ok)) and fallback
    is_ready = checks["postgresql"].ok and checks["model"].ok and (checks["redis"].ok or fallback)
    body = Readiness(ready=is_ready, missing=missing, degraded=degraded, checks=checks)  # type: ignore[arg-type]
    return json_response(body, status_code=200 if is_ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics."}},
)
async def metrics(state: ServingState = Depends(get_state)) -> Response:
    """Request latency by route, predictions served, store fallbacks, the models served."""
    return Response(content=state.metrics.exposition(), media_type=CONTENT_TYPE)
