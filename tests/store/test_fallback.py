"""Fallback to PostgreSQL while Redis is down, and the way back, against a Redis this test owns.

The test starts its own ``redis-server`` on a free port (the machine's Redis on 6379 is never
touched), stops it mid-test, and starts it again on the same port. PostgreSQL is the machine's,
holding real 2016 feature rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import polars as pl
import pytest

from mlbedge.store.base import StoreUnavailableError
from mlbedge.store.fallback import FallbackStore, PostgresFeatureReader
from mlbedge.store.redis_store import RedisStore
from tests.redis_server import OwnRedis
from tests.store.conftest import FeatureDb

RETRY_S = 0.3


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _values(result) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    return {r.game_id: (r.date, r.as_of, r.feature_set_version, r.values) for r in result.rows}


def test_reads_fall_back_to_postgres_while_redis_is_down_and_return_when_it_is_back(
    own_redis: OwnRedis, feature_db: FeatureDb
) -> None:
    rows = feature_db.rows
    day = rows.group_by("date").len().filter(pl.col("len") >= 12).sort("date")["date"][0]
    ids = [*rows.filter(pl.col("date") == day)["game_id"].sort().to_list(), rows["game_id"][-1]]
    primary = RedisStore.from_url(own_redis.url, prefix="fallback", timeout_seconds=0.2)
    store = FallbackStore(primary, PostgresFeatureReader(feature_db.url), retry_seconds=RETRY_S)
    try:
        store.write_batch(feature_db.version, rows)
        up = store.read(ids)
        up_slate = store.read_slate(day)
        assert not up.degraded and up.backend == "redis" and up.missing == [] and not store.degraded
        assert store.health().ok and not store.health().degraded

        own_redis.stop()
        down = store.read(ids)
        down_slate = store.read_slate(day)
        assert down.degraded and down.backend == "postgres" and store.degraded
        assert down_slate.degraded and down_slate.backend == "postgres"
        # The same games, the same values, bit for bit, from the other store.
        assert _values(down) == _values(up) and [r.game_id for r in down.rows] == ids
        assert _values(down_slate) == _values(up_slate)
        assert [r.game_id for r in down_slate.rows] == [r.game_id for r in up_slate.rows]
        health = store.health()
        assert (
            health.ok and health.degraded and health.backend == "postgres" and "unreachable" in health.detail
        )
        with pytest.raises(StoreUnavailableError):
            store.write_batch(feature_db.version, rows.head(5))

        own_redis.start()  # same port, empty (it keeps nothing on disk)
        time.sleep(RETRY_S + 0.1)
        back = store.read(ids)
        # Redis answers again (not degraded as a store) but is empty: the games come from
        # PostgreSQL, named in from_fallback, and their dates are refilled in the background.
        assert back.backend == "redis" and not store.degraded
        assert back.degraded and back.from_fallback == frozenset(ids) and back.missing == []
        assert _values(back) == _values(up) and {back.source_of(g) for g in ids} == {"postgres"}
        store.wait_for_refills()
        assert _values(primary.read(ids)) == _values(up)  # refilled without a restart
        again = store.read(ids)
        assert not again.degraded and again.from_fallback == frozenset() and _values(again) == _values(up)
    finally:
        store.close()


def test_while_degraded_reads_do_not_wait_on_redis_until_the_retry_pause_is_over(
    own_redis: OwnRedis, feature_db: FeatureDb
) -> None:
    ids = feature_db.rows["game_id"].head(5).to_list()
    primary = RedisStore.from_url(own_redis.url, prefix="fallback", timeout_seconds=0.2)
    clock = [100.0]
    store = FallbackStore(
        primary, PostgresFeatureReader(feature_db.url), retry_seconds=5, clock=lambda: clock[0]
    )
    try:
        own_redis.stop()
        assert store.read(ids).degraded
        own_redis.start()
        # Redis is back, but the pause is not over: still served (correctly) by PostgreSQL.
        clock[0] += 4.9
        assert store.read(ids).degraded
        clock[0] += 0.2
        recovered = store.read(ids)
        # Redis is asked again (and answers); it is empty, so the games are filled from PostgreSQL.
        assert recovered.backend == "redis" and not store.degraded
        assert recovered.from_fallback == frozenset(ids)
    finally:
        store.close()


def test_postgres_reader_reads_real_rows_and_unknown_ids_as_missing(feature_db: FeatureDb) -> None:
    reader = PostgresFeatureReader(feature_db.url)
    try:
        want = feature_db.rows.row(100, named=True)
        result = reader.read(["nope", want["game_id"]])
        assert result.missing == ["nope"] and result.degraded
        row = result.rows[0]
        assert row.as_of == want["as_of"] and row.date == want["date"]
        assert all(row[n] == want[n] or (row[n] is None and want[n] is None) for n in row.names)
        assert reader.health().ok
    finally:
        reader.close()
