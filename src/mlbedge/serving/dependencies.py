"""What every request uses: the process's serving state, the rate limit, and the admin check.

:class:`ServingState` holds the long-lived parts, built once at startup: the online store (Redis
with the PostgreSQL fallback, :func:`mlbedge.store.factory.online_store`), a small PostgreSQL
connection pool (schedule and prices), the :class:`~mlbedge.serving.models.ModelHolder`, the rate
limiter and the metrics. Nothing in it needs a server to be up when it is built: a dependency that
is down makes ``/ready`` say so, and the routes that need it answer 503.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool, PoolTimeout

from mlbedge.betting.kelly import StakingPolicy
from mlbedge.serving.metrics import ApiMetrics
from mlbedge.serving.models import CLOSE_POINTER_FILE, ModelHolder, RegistryUnavailableError, ReloadSignal
from mlbedge.serving.ratelimit import Decision, RateLimiter, client_key, key_digest
from mlbedge.serving.ready import ReadyAnswers
from mlbedge.settings import Settings
from mlbedge.store.base import OnlineStore
from mlbedge.store.redis_store import RedisStore

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
# The scope key under which the prediction routes' fast path leaves the rate-limit decision it made
# (:mod:`mlbedge.serving.fast`): a request it hands on is not counted twice.
RATE_DECISION = "mlbedge.rate_limit"


class DatabaseUnavailableError(RuntimeError):
    """PostgreSQL could not be reached (the message says where)."""


def serving_targets(settings: Settings) -> list[str]:
    """The markets served, from ``serve_targets``."""
    return [t.strip() for t in settings.serve_targets.split(",") if t.strip()]


def close_targets(settings: Settings) -> list[str]:
    """The move models served (the close strategy), from ``serve_close_targets``."""
    return [t.strip() for t in settings.serve_close_targets.split(",") if t.strip()]


@dataclass
class ServingState:
    """The parts of a running API (see the module docstring)."""

    settings: Settings
    store: OnlineStore
    pool: ConnectionPool
    models: ModelHolder
    limiter: RateLimiter
    metrics: ApiMetrics
    targets: list[str]
    database_url: str
    api_keys: frozenset[str] = frozenset()
    # The move models (predicted close, close strategy): their own holder, so a target without a
    # champion there never touches the markets' readiness or answers.
    close_models: ModelHolder | None = None
    ready: ReadyAnswers | None = None
    reloads: ReloadSignal | None = None
    _models_cache: tuple[float, Any] | None = field(default=None, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(
        cls, settings: Settings, *, metrics: ApiMetrics | None = None, load_models: bool = True
    ) -> ServingState:
        """Build every part from ``settings``; migrate the database and load the champions."""
        from mlbedge.storage.database import connect, database_url
        from mlbedge.store.factory import online_store, store_url

        targets = serving_targets(settings)
        url = database_url(settings)
        try:
            with connect(settings):
                pass  # the schema at the latest migration, as every command expects
        except psycopg.OperationalError as exc:
            log.warning("PostgreSQL unreachable at startup (%s); /ready will say so", exc)
        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(settings.serve_db_timeout_seconds))},
            timeout=settings.serve_db_timeout_seconds,
            open=False,
            name="mlbedge-serving",
        )
        pool.open(wait=False)
        _, redis_url = store_url(settings)
        limiter = RateLimiter(
            redis_url,
            limit=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
            prefix=settings.store_key_prefix,
            timeout_seconds=settings.store_timeout_seconds,
            retry_seconds=settings.store_retry_seconds,
        )
        store = online_store(settings)
        state = cls(
            settings=settings,
            store=store,
            pool=pool,
            models=ModelHolder(settings, targets),
            limiter=limiter,
            metrics=metrics or ApiMetrics(),
            targets=targets,
            database_url=url,
            api_keys=configured_keys(settings),
            close_models=ModelHolder(settings, close_targets(settings), pointer=CLOSE_POINTER_FILE),
            ready=ready_answers(settings, store, limiter),
            reloads=reload_signal(settings, store),
        )
        if load_models:
            state.models.load()
            state.load_close_models()
        state.metrics.record_models(state.models.current, targets)
        return state

    def load_close_models(self) -> None:
        """Load the move models' champions (a target without one is listed as unavailable)."""
        if self.close_models is not None and self.close_models.targets:
            self.close_models.load()

    def reload_close_models(self) -> dict[str, str]:
        """Reload the move models' champions; per target the version now served, or why none is."""
        holder = self.close_models
        if holder is None or not holder.targets:
            return {}
        try:
            _, after = holder.reload()
        except RegistryUnavailableError as exc:
            log.warning("move models not reloaded: %s", exc)
            after = holder.current
        return {
            t: (
                f"{after.models[t].name} v{after.models[t].version}"
                if t in after.models
                else after.unavailable.get(t, "")
            )
            for t in holder.targets
        }

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """A pooled autocommit connection (waiting at most ``timeout`` s for one, default the
        pool's); :class:`DatabaseUnavailableError` when PostgreSQL is down."""
        try:
            with self.pool.connection(timeout=timeout) as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise DatabaseUnavailableError(f"PostgreSQL unavailable: {exc}") from exc

    def staking_policy(self, kelly_fraction: float | None = None) -> StakingPolicy:
        """The recommendation policy of the settings, with ``kelly_fraction`` when given."""
        s = self.settings
        return StakingPolicy(
            kelly_fraction=kelly_fraction if kelly_fraction is not None else s.recommend_kelly_fraction,
            min_edge=s.recommend_min_edge,
            max_stake_per_bet=s.recommend_max_stake_per_bet,
            max_stake_per_game=s.recommend_max_stake_per_game,
            max_exposure=s.recommend_max_exposure,
            stake_unit=s.recommend_stake_unit,
            n_scenarios=s.recommend_kelly_scenarios,
        )

    def cached_models(self, build: Any) -> Any:
        """``build()``'s answer, reused for ``serve_models_cache_seconds``."""
        ttl = self.settings.serve_models_cache_seconds
        with self._cache_lock:
            cached = self._models_cache
            if cached is not None and time.monotonic() - cached[0] < ttl:
                return cached[1]
            value = build()
            self._models_cache = (time.monotonic(), value)
            return value

    def forget_models_cache(self) -> None:
        """Drop the cached ``/v1/models`` answer (after a reload)."""
        with self._cache_lock:
            self._models_cache = None

    def close(self) -> None:
        """Stop warming ready answers, then release the store and the pool (the limiter closes in
        the event loop, see the app)."""
        if self.ready is not None:
            self.ready.close()
        self.store.close()
        self.pool.close()


def _redis(store: OnlineStore) -> RedisStore | None:
    """The Redis store behind ``store`` (itself, or the primary of a fallback store), if any."""
    primary = getattr(store, "primary", store)
    return primary if isinstance(primary, RedisStore) else None


def ready_answers(settings: Settings, store: OnlineStore, limiter: RateLimiter) -> ReadyAnswers | None:
    """Ready answers beside the store's slates (:mod:`mlbedge.serving.ready`), when they are on
    (``serve_ready_answers``) and the store is one Redis (a cluster spreads a request's keys)."""
    primary = _redis(store)
    if not settings.serve_ready_answers or primary is None or not isinstance(primary.client, redis.Redis):
        return None
    return ReadyAnswers(primary, limiter)


def reload_signal(settings: Settings, store: OnlineStore) -> ReloadSignal | None:
    """With several API processes (``serve_workers``), the stamp by which a reload reaches them all."""
    primary = _redis(store)
    if settings.serve_workers < 2 or primary is None:
        return None
    return ReloadSignal(primary.client, settings.store_key_prefix)  # type: ignore[arg-type]


async def get_state(request: Request) -> ServingState:
    """The app's serving state."""
    return request.app.state.serving  # type: ignore[no-any-return]


def configured_keys(settings: Settings) -> frozenset[str]:
    """The digests of the configured API keys (``api_keys``)."""
    raw = settings.api_keys.get_secret_value() if settings.api_keys is not None else ""
    return frozenset(key_digest(k.strip()) for k in raw.split(",") if k.strip())


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _client(request: Request) -> str:
    state: ServingState = request.app.state.serving
    return client_key(request.headers.get(API_KEY_HEADER), _address(request), state.api_keys)


def _enforce(state: ServingState, decision: Decision) -> None:
    """Count the decision in the metrics; 429 with ``Retry-After`` when the client is over its limit."""
    if not decision.checked:
        if decision.limit:
            state.metrics.rate_limit_errors.inc()
        return
    if not decision.allowed:
        state.metrics.rate_limited.inc()
        raise HTTPException(
            status_code=429,
            detail=(
                f"rate limit exceeded: {decision.limit} requests per "
                f"{state.settings.rate_limit_window_seconds:g} s; retry in {decision.retry_after} s"
            ),
            headers={"Retry-After": str(decision.retry_after)},
        )


async def rate_limit(request: Request) -> None:
    """Count the request against its client's limit; 429 with ``Retry-After`` when over it. A
    request the fast path already counted (:data:`RATE_DECISION`) is judged by that count."""
    state: ServingState = request.app.state.serving
    decision = request.scope.get(RATE_DECISION)
    if decision is None:
        decision = await state.limiter.check(_client(request))
    _enforce(state, decision)


_bets_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="The bet ledger's key (MLBEDGE_BETS_API_KEY)."
)


def require_bets_key(request: Request, sent: str | None = Depends(_bets_key)) -> None:
    """401 without an ``X-API-Key`` header, 403 with a wrong one (compared in constant time) or
    when no ledger key (``MLBEDGE_BETS_API_KEY``) is configured."""
    if not sent:
        raise HTTPException(
            status_code=401, detail=f"the bet ledger needs the API key in the {API_KEY_HEADER} header"
        )
    state: ServingState = request.app.state.serving
    configured = state.settings.bets_api_key
    if configured is None or not configured.get_secret_value():
        raise HTTPException(
            status_code=403, detail="the bet ledger is disabled: MLBEDGE_BETS_API_KEY is not set"
        )
    try:
        raw = sent.encode("latin-1")
    except UnicodeEncodeError:
        raw = b""
    if not hmac.compare_digest(raw, configured.get_secret_value().encode("utf-8")):
        raise HTTPException(status_code=403, detail=f"{API_KEY_HEADER} is not the bet ledger's key")


_bearer = HTTPBearer(auto_error=False, description="The admin token (MLBEDGE_ADMIN_TOKEN) as a Bearer token.")


async def require_admin(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    """401 without a Bearer token, 403 with a wrong one (compared in constant time) or when no
    admin token is configured; 429 once the address has failed ``admin_failure_limit`` times in
    ``admin_failure_window_seconds`` (checked before the token, so guessing stops)."""
    state: ServingState = request.app.state.serving
    settings = state.settings
    who = f"ip:{_address(request) or 'unknown'}"
    wait = await state.limiter.admin_blocked(who, settings.admin_failure_limit)
    if wait is not None:
        state.metrics.rate_limited.inc()
        raise HTTPException(
            status_code=429,
            detail=f"admin route: too many failed authentications from this address; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        _check_admin_token(state, credentials)
    except HTTPException:
        await state.limiter.admin_failed(who, settings.admin_failure_window_seconds)
        raise


def _check_admin_token(state: ServingState, credentials: HTTPAuthorizationCredentials | None) -> None:
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status_code=401,
            detail="admin route: send the admin token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    configured = state.settings.admin_token
    if configured is None or not configured.get_secret_value():
        raise HTTPException(
            status_code=403, detail="admin routes are disabled: MLBEDGE_ADMIN_TOKEN is not set"
        )
    # Header values arrive as bytes decoded as latin-1: re-encoding them gives the bytes sent,
    # which are compared with the token's UTF-8 bytes (any token, in constant time).
    try:
        sent = credentials.credentials.encode("latin-1")
    except UnicodeEncodeError:
        sent = b""
    if not hmac.compare_digest(sent, configured.get_secret_value().encode("utf-8")):
        raise HTTPException(status_code=403, detail="admin route: the token is not the admin token")
