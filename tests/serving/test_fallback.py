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
    assert {**body, "degraded": False} == healthy
    assert down_batch["degraded"] is True and len(down_batch["predictions"]) == 15
    assert [{**p, "degraded": False} for p in down_batch["predictions"]] == healthy_batch["predictions"]
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
