"""Redis down: the API answers from PostgreSQL with ``degraded: true``, and recovers by itself.

The test runs its own ``redis-server`` on a free port (the machine's Redis is never touched),
materializes the served date into it, shuts it down mid-test (saving its data) and starts it
again on the same port and data folder.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from mlbedge.settings import Settings
from mlbedge.store.materialize import materialize
from mlbedge.store.redis_store import RedisStore
from tests.redis_server import OwnRedis
from tests.serving.conftest import SLATE_DAY, ServedApp, ServingDb

RETRY_S = 0.3


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def test_redis_down_serves_from_postgres_degraded_then_recovers(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    serving_db: ServingDb,
    own_redis: OwnRedis,
) -> None:
    prefix = f"mlbedge_test_fb_{uuid.uuid4().hex[:8]}"
    store = RedisStore.from_url(own_redis.url, prefix=prefix)
    with psycopg.connect(serving_db.url) as conn:
        assert materialize(conn, store, dates=[SLATE_DAY]).games == 15
    store.close()
    app = serve(
        make_settings(
            redis_url=own_redis.url,
            store_key_prefix=prefix,
            store_retry_seconds=RETRY_S,
            rate_limit_requests=1000,
        )
    )
    day = SLATE_DAY.isoformat()
    with app.client() as c:
        games = [g["game_id"] for g in c.get("/v1/games", params={"date": day}).json()["games"]]
        healthy = c.get(f"/v1/predictions/{games[0]}").json()
        healthy_batch = c.post("/v1/predictions", json={"game_ids": games}).json()
        healthy_bets = c.get("/v1/recommendations", params={"date": day, "bankroll": 1000}).json()
        assert healthy["degraded"] is False and healthy_batch["degraded"] is False

        own_redis.stop()
        down = c.get(f"/v1/predictions/{games[0]}")
        down_batch = c.post("/v1/predictions", json={"game_ids": games}).json()
        down_bets = c.get("/v1/recommendations", params={"date": day, "bankroll": 1000}).json()
        ready = c.get("/ready")
        metrics = c.get("/metrics").text

        own_redis.start()
        time.sleep(RETRY_S * 2)
        recovered = c.get(f"/v1/predictions/{games[0]}").json()
        ready_again = c.get("/ready").json()

    assert down.status_code == 200
    body = down.json()
    assert body["degraded"] is True
    # The same rows from PostgreSQL: the same answer apart from the flag.
    assert body["features_source"] == "postgres" and healthy["features_source"] == "online_store"
    assert {**body, "degraded": False, "features_source": "online_store"} == healthy
    assert down_batch["degraded"] is True and len(down_batch["predictions"]) == 15
    assert [
        {**p, "degraded": False, "features_source": "online_store"} for p in down_batch["predictions"]
    ] == (healthy_batch["predictions"])
    assert down_bets["degraded"] is True and down_bets["bets"] == healthy_bets["bets"]
    assert ready.status_code == 200
    assert ready.json()["missing"] == ["redis"] and ready.json()["degraded"] is True
    fallbacks = [line for line in metrics.splitlines() if line.startswith("mlbedge_store_fallbacks_total ")]
    assert fallbacks and float(fallbacks[0].split()[1]) >= 3
    # The rate limiter's Redis is down too: requests went through, counted as limiter errors.
    errors = [line for line in metrics.splitlines() if line.startswith("mlbedge_rate_limit_errors_total ")]
    assert errors and float(errors[0].split()[1]) >= 1
    assert recovered["degraded"] is False and {**recovered} == healthy
    assert ready_again["missing"] == [] and ready_again["degraded"] is False


def test_redis_restarted_empty_is_answered_from_postgres_and_refilled(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    serving_db: ServingDb,
    tmp_path: Path,
) -> None:
    """Redis restarts with nothing in it (no data folder) under a running API: every game of the
    materialized date still answers 200 within a second, from PostgreSQL and saying so; /ready
    names the empty store; the slate is re-materialized in the background, no restart needed."""
    server = OwnRedis()  # no folder: a restart comes back empty
    server.start()
    try:
        prefix = f"mlbedge_test_empty_{uuid.uuid4().hex[:8]}"
        store = RedisStore.from_url(server.url, prefix=prefix)
        with psycopg.connect(serving_db.url) as conn:
            assert materialize(conn, store, dates=[SLATE_DAY]).games == 15
        app = serve(make_settings(redis_url=server.url, store_key_prefix=prefix, rate_limit_requests=10_000))
        day = SLATE_DAY.isoformat()
        with app.client() as c:
            games = [g["game_id"] for g in c.get("/v1/games", params={"date": day}).json()["games"]]
            assert len(games) == 15
            healthy = {g: c.get(f"/v1/predictions/{g}").json() for g in games}
            assert {p["features_source"] for p in healthy.values()} == {"online_store"}
            assert c.get("/ready").json()["missing"] == []

            server.stop()
            server.start()  # empty
            assert store.slate_dates() == []
            ready = c.get("/ready").json()
            answers = {}
            for g in games:
                started = time.perf_counter()
                response = c.get(f"/v1/predictions/{g}")
                answers[g] = (response.status_code, time.perf_counter() - started, response.json())
            app.state.store.wait_for_refills(timeout=30)
            refilled = store.slate_dates()
            after = c.get(f"/v1/predictions/{games[0]}").json()
            ready_after = c.get("/ready").json()
    finally:
        store.close()
        server.kill()

    assert ready["ready"] is True and ready["missing"] == ["online_store"] and ready["degraded"] is True
    assert "online store empty" in ready["checks"]["online_store"]["detail"]
    # The first answers come from PostgreSQL; once the background refill lands, from Redis again.
    assert answers[games[0]][2]["features_source"] == "postgres" and answers[games[0]][2]["degraded"] is True
    for g, (status, seconds, body) in answers.items():
        assert status == 200, body
        assert seconds < 1.0, (g, seconds)
        assert body["degraded"] is (body["features_source"] == "postgres")
        # The same features, hence the same prediction, as from Redis.
        assert {**body, "degraded": False, "features_source": "online_store"} == healthy[g]
    assert refilled == [SLATE_DAY]
    assert after["features_source"] == "online_store" and after == healthy[games[0]]
    assert ready_after["missing"] == [] and ready_after["degraded"] is False
