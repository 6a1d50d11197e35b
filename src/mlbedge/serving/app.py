"""The FastAPI application: ``create_app()`` wires the routes, the error answers and the metrics.

At startup (the lifespan) the serving state is built, the champions are loaded once, their ready
answers are warmed in the background (:mod:`mlbedge.serving.ready`, served by
:mod:`mlbedge.serving.fast` in front of the routes), with several processes each follows the
others' reloads (:mod:`mlbedge.serving.reloads`), and the garbage collector's view of everything
built so far is frozen (``gc.freeze``): the long-lived objects (models, layouts, pools) are then
never rescanned, which keeps collection pauses out of the latency tail.

Errors a client can cause are 4xx with a sentence naming the id or field; a dependency that is
down (PostgreSQL, Redis and its fallback together, the registry) or a missing champion is a 503
saying which. Nothing a client sends produces a 500.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import mlbedge
from mlbedge.serving.dependencies import DatabaseUnavailableError, ServingState, rate_limit
from mlbedge.serving.fast import ReadyAnswerMiddleware
from mlbedge.serving.limits import BodyLimitMiddleware
from mlbedge.serving.metrics import ApiMetrics, LatencyMiddleware
from mlbedge.serving.models import NoChampionError, RegistryUnavailableError
from mlbedge.serving.reloads import follow_reloads, warm_in_background
from mlbedge.serving.responses import json_response
from mlbedge.serving.routers import admin, alerts, bets, close, games, health, predictions, recommendations
from mlbedge.serving.routers import models as models_router
from mlbedge.serving.schemas import ErrorResponse, ValidationErrorResponse, ValidationIssue
from mlbedge.settings import Settings, get_settings
from mlbedge.store.base import StoreError

log = logging.getLogger(__name__)

DESCRIPTION = """
Predictions of MLB games against the betting market, and Kelly stakes.

Every prediction uses only facts observed at or before the game's cutoff (`as_of`, first pitch
minus the configured minutes). Features come from the online store (Redis); while Redis is
unreachable they come from PostgreSQL and answers say `degraded: true`.
"""


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(ErrorResponse(detail=detail), status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        issues = [
            ValidationIssue(
                loc=[p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
                msg=str(err.get("msg", "invalid")),
                type=str(err.get("type", "value_error")),
            )
            for err in exc.errors()
        ]
        return json_response(ValidationErrorResponse(detail=issues), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)

    @app.exception_handler(NoChampionError)
    async def _no_model(_: Request, exc: NoChampionError) -> Response:
        return _error(503, str(exc))

    @app.exception_handler(RegistryUnavailableError)
    async def _no_registry(_: Request, exc: RegistryUnavailableError) -> Response:
        return _error(503, f"{exc}; the models served are unchanged")

    @app.exception_handler(DatabaseUnavailableError)
    async def _no_database(_: Request, exc: DatabaseUnavailableError) -> Response:
        return _error(503, str(exc))

    @app.exception_handler(StoreError)
    async def _no_store(_: Request, exc: StoreError) -> Response:
        return _error(503, f"online store unavailable: {exc}")


DOCS_ASSETS = "/docs-assets"


def _install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the files the ``fastapi-offline`` package ships (Swagger UI 5,
    which reads OpenAPI 3.1), so the page works with no network: nothing is fetched from a CDN."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="mlbedge API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            # No validator badge: Swagger UI would fetch it from its public validator.
            swagger_ui_parameters={"validatorUrl": None},
        )


def create_app(settings: Settings | None = None, *, state: ServingState | None = None) -> FastAPI:
    """The API. With ``state`` the app serves it (its owner closes it); without, the lifespan
    builds one from ``settings`` at startup and closes it at shutdown."""
    settings = settings or get_settings()
    metrics = state.metrics if state is not None else ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.serving is None
        if owned:
            app.state.serving = await run_in_threadpool(ServingState.start, settings, metrics=metrics)
        serving: ServingState = app.state.serving
        warm_in_background(serving, serving.models.current)
        follower = asyncio.create_task(follow_reloads(serving)) if serving.reloads is not None else None
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
            await serving.limiter.close()
            if owned:
                serving.close()
                app.state.serving = None

    app = FastAPI(
        title="mlbedge",
        version=mlbedge.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default loads Swagger UI from a CDN
        redoc_url=None,
    )
    _install_docs(app)
    app.state.serving = state
    _install_error_handlers(app)
    app.include_router(health.router)
    limited: dict[str, Any] = {"dependencies": [Depends(rate_limit)]}
    app.include_router(games.router, **limited)
    app.include_router(predictions.build_router(settings.serve_batch_max), **limited)
    app.include_router(recommendations.build_router(settings.recommend_kelly_fraction), **limited)
    app.include_router(close.router, **limited)
    app.include_router(models_router.router, **limited)
    app.include_router(admin.router, **limited)
    app.include_router(alerts.router, **limited)
    app.include_router(bets.router, **limited)
    from mlbedge.serving.dashboard import router as dashboard_router  # the HTML page at /

    app.include_router(dashboard_router, **limited)
    # Innermost of the middlewares: bodies arrive through the limits, latency is measured outside.
    app.add_middleware(ReadyAnswerMiddleware, api=app, batch_max=settings.serve_batch_max)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.serve_max_body_bytes,
        timeout=settings.serve_body_timeout_seconds,
    )
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    return app
