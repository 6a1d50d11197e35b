"""Prometheus metrics of the API: latency by route, predictions served, store fallbacks, models.

Each app gets its own registry (two apps in one process, as in the tests, never share counters).
Latency is measured by a pure ASGI middleware from the request's arrival to the last byte of its
response, labelled by the route's *template* (``/v1/predictions/{game_id}``), never the raw path:
unmatched paths share one label, so a scanner cannot grow the label set.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlbedge.serving.models import ModelSet

# Fine buckets where the goals are (p99 <= 10 ms single, <= 25 ms batch), coarse beyond.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.010, 0.0125, 0.015, 0.020,
    0.025, 0.030, 0.040, 0.050, 0.075, 0.100, 0.250, 0.500, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
UNMATCHED = "unmatched"
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ApiMetrics:
    """The API's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "mlbedge_http_request_duration_seconds",
            "Time from request arrival to the last byte of the response, by route template.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "mlbedge_predictions_total",
            "Game predictions served (one per game and request), by market.",
            ["market"],
            registry=self.registry,
        )
        self.store_reads = Counter(
            "mlbedge_store_reads_total",
            "Online-store reads by the API, by where the rows came from (redis or the postgres fallback).",
            ["backend"],
            registry=self.registry,
        )
        self.store_fallbacks = Counter(
            "mlbedge_store_fallbacks_total",
            "Store reads answered by the PostgreSQL fallback because Redis was unreachable.",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "mlbedge_rate_limited_total", "Requests refused with 429.", registry=self.registry
        )
        self.rate_limit_errors = Counter(
            "mlbedge_rate_limit_errors_total",
            "Requests let through unchecked because the rate limiter's Redis was unreachable.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "mlbedge_model_reloads_total", "Model reloads, by result.", ["result"], registry=self.registry
        )
        self.model_version = Gauge(
            "mlbedge_model_version",
            "The registered version served per target (0: none loaded).",
            ["target", "name"],
            registry=self.registry,
        )
        self._redis_reads = self.store_reads.labels("redis")
        self._per_market: dict[str, Any] = {}
        self.model_info = Gauge(
            "mlbedge_model_info",
            "1 for the model served per target, with its version, feature set and source as labels.",
            ["target", "name", "version", "feature_set_version", "source"],
            registry=self.registry,
        )

    def record_models(self, models: ModelSet, targets: list[str]) -> None:
        """Set the model gauges to ``models`` (called after every load and reload)."""
        self.model_info.clear()
        self.model_version.clear()
        for target in targets:
            loaded = models.models.get(target)
            if loaded is None:
                self.model_version.labels(target, "").set(0)
                continue
            version = float(loaded.version) if loaded.version.isdigit() else 0.0
            self.model_version.labels(target, loaded.name).set(version)
            self.model_info.labels(
                target, loaded.name, loaded.version, loaded.feature_set_version, loaded.source
            ).set(1)

    def record_read(self, degraded: bool) -> None:
        """Count one store read, and a fallback when it was served degraded."""
        if degraded:
            self.store_reads.labels("postgres").inc()
            self.store_fallbacks.inc()
        else:
            self._redis_reads.inc()

    def count_predictions(self, markets: Iterable[str]) -> None:
        """Count the game predictions served: one per market name in ``markets`` (each game's
        markets, game after game)."""
        for market, n in collections.Counter(markets).items():
            counter = self._per_market.get(market)
            if counter is None:  # labelled children are looked up once: the hot path only adds
                counter = self._per_market[market] = self.predictions.labels(market)
            counter.inc(n)

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)


def route_label(scope: Scope) -> str:
    """The matched route's template, or :data:`UNMATCHED`."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class LatencyMiddleware:
    """Observes every HTTP request's latency into :attr:`ApiMetrics.latency`."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.metrics.latency.labels(scope["method"], route_label(scope), str(status)).observe(
                    time.perf_counter() - started
                )

        await self.app(scope, receive, observe)
