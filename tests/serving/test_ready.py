"""Ready answers: predictions kept in Redis per model set and slate version, served as bytes.

Rules stated by the tests: an answer served from Redis is byte for byte the answer the route
computes; it is the kept bytes that are served (not a recomputation); a re-materialized slate is
never answered from its older features; a reload in one API process reaches the others, and no
answer ever mixes model versions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import polars as pl
import psycopg
import pytest

from mlbedge.serving.ready import KIND
from mlbedge.settings import Settings
from mlbedge.store.materialize import materialize
from mlbedge.store.redis_store import RedisStore
from mlbedge.training import registry
from tests.serving.conftest import (
    MARKETS,
    REDIS_URL,
    SLATE_DAY,
    Registered,
    ServedApp,
    ServingDb,
    admin_headers,
    register_as,
)


@pytest.fixture
def own_slate(serving_db: ServingDb) -> Iterator[RedisStore]:
    """The served date alone, materialized under a key prefix of this test (changed by it)."""
    store = RedisStore.from_url(REDIS_URL, prefix=f"mlbedge_test_ready_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(serving_db.url) as conn:
        assert materialize(conn, store, dates=[SLATE_DAY]).games == 15
    yield store
    store.clear()
    store.close()


def _ready_keys(store: RedisStore) -> list[str]:
    return sorted(
        k.decode()
        for k in store.client.scan_iter(match=f"{{{store.keys.prefix}:*}}:*:{KIND}:*", count=1000)
        if not k.endswith(b"_warming")
    )


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ready_answers_are_the_routes_answers_served_from_redis(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    serving_db: ServingDb,
    own_slate: RedisStore,
) -> None:
    prefix = own_slate.keys.prefix
    computed = serve(make_settings(store_key_prefix=prefix, serve_ready_answers=False))
    fast = serve(make_settings(store_key_prefix=prefix))
    _wait_for(lambda: len(_ready_keys(own_slate)) == 15)  # warmed at startup, in the background
    day = SLATE_DAY.isoformat()
    with computed.client() as slow_client, fast.client() as fast_client:
        games = [g["game_id"] for g in slow_client.get("/v1/games", params={"date": day}).json()["games"]]
        batch = {"game_ids": [games[3], games[0], games[3], *games[5:9]]}  # request order, a repeat
        for game in games:
            fast_client.get(f"/v1/predictions/{game}")  # this process learns where each game is
        for game in games:
            slow, quick = (
                slow_client.get(f"/v1/predictions/{game}"),
                fast_client.get(f"/v1/predictions/{game}"),
            )
            assert quick.status_code == slow.status_code == 200
            assert quick.content == slow.content
            assert quick.headers["content-type"] == slow.headers["content-type"] == "application/json"
        slow_batch = slow_client.post("/v1/predictions", json=batch)
        quick_batch = fast_client.post("/v1/predictions", json=batch)
        assert quick_batch.content == slow_batch.content and quick_batch.status_code == 200
        assert [p["game_id"] for p in quick_batch.json()["predictions"]] == batch["game_ids"]

        # What is served is the kept bytes: replace one and the API answers with it.
        target = games[2]
        key = next(k for k in _ready_keys(own_slate) if k.endswith(f":{target}"))
        original = own_slate.client.get(key)
        marker = b'{"game_id":"' + target.encode() + b'","marker":true}'
        own_slate.client.set(key, b"moneyline,total,runline\n" + marker)
        assert fast_client.get(f"/v1/predictions/{target}").content == marker
        own_slate.client.set(key, original)

        # A slate written again with other features switches its token: the kept answers of the
        # older version are not served, the route computes from the new row, and keeps that.
        before = slow_client.get(f"/v1/predictions/{target}").json()
        own_slate.client.set(key, b"moneyline,total,runline\n" + marker)
        rows = serving_db.features.filter(pl.col("date") == SLATE_DAY)
        changed = rows.with_columns(
            ml_home_prob=pl.when(pl.col("game_id") == target)
            .then(pl.col("ml_home_prob") + 0.05)
            .otherwise(pl.col("ml_home_prob"))
        )
        assert own_slate.write_batch(serving_db.feature_set_version, changed).switched == [SLATE_DAY]
        fresh = fast_client.get(f"/v1/predictions/{target}")
        recomputed = slow_client.get(f"/v1/predictions/{target}")
        assert fresh.status_code == 200 and fresh.content != marker
        assert fresh.content == recomputed.content
        moneyline = next(m for m in fresh.json()["markets"] if m["market"] == "moneyline")
        moneyline_before = next(m for m in before["markets"] if m["market"] == "moneyline")
        assert moneyline["sides"][0]["market_probability"] == pytest.approx(
            moneyline_before["sides"][0]["market_probability"] + 0.05
        )
        kept = [k for k in _ready_keys(own_slate) if k.endswith(f":{target}") and k != key]
        assert len(kept) == 1 and own_slate.client.get(kept[0]).endswith(fresh.content)
        assert fast_client.get(f"/v1/predictions/{target}").content == fresh.content


def test_a_reload_in_one_process_reaches_the_others(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    registered: Registered,
    own_slate: RedisStore,
) -> None:
    """Two API processes of one namespace (``serve_workers`` 2): version 2 is promoted and ONE of
    them is asked to reload; the other serves version 2 within a second or so, by itself, and
    neither ever answers with a mix of versions."""
    settings = make_settings(
        store_key_prefix=own_slate.keys.prefix,
        model_name_prefix=f"fan{uuid.uuid4().hex[:8]}",
        serve_workers=2,
        serve_reload_poll_seconds=0.2,
    )
    assert set(register_as(registered.first, settings).values()) == {"1"}
    assert set(register_as(registered.second, settings).values()) == {"2"}
    one, other = serve(settings), serve(settings)
    day = SLATE_DAY.isoformat()
    with one.client() as c1, other.client() as c2:
        games = [g["game_id"] for g in c1.get("/v1/games", params={"date": day}).json()["games"]]

        def versions(client: object, game: str) -> set[str]:
            body = client.get(f"/v1/predictions/{game}").json()  # type: ignore[attr-defined]
            return {m["model"]["version"] for m in body["markets"]}

        assert versions(c1, games[0]) == versions(c2, games[0]) == {"1"}
        for market in MARKETS:
            registry.promote(registry.model_name(market, settings), "2", settings=settings)
        assert c1.post("/v1/admin/reload", headers=admin_headers()).status_code == 200
        assert versions(c1, games[0]) == {"2"}
        started = time.monotonic()
        seen: list[set[str]] = []
        while time.monotonic() - started < 15:
            seen.append(versions(c2, games[1]))
            if seen[-1] == {"2"}:
                break
            time.sleep(0.05)
        assert seen[-1] == {"2"}, "the other process never followed the reload"
        assert all(len(v) == 1 for v in seen)  # one model set per answer, throughout
        assert time.monotonic() - started < 5
        metrics = c2.get("/metrics").text
    assert 'mlbedge_model_reloads_total{result="ok"} 1.0' in metrics


def test_stopping_the_api_ends_its_warming_before_the_store_closes(
    serve: Callable[[Settings], ServedApp], make_settings: Callable[..., Settings], own_slate: RedisStore
) -> None:
    """The warming thread writes to the store's Redis client: the API's shutdown stops it and waits
    for it (bounded) before closing that client, and a stopped API warms nothing more."""
    app = serve(make_settings(store_key_prefix=own_slate.keys.prefix))
    ready, models = app.state.ready, app.state.models.current
    app.stop()
    assert ready._threads, "the API warmed its answers at startup"
    assert not any(t.is_alive() for t in ready._threads)
    # Every ready key, the startup's claims included: an API still warming would warm it all again.
    kept = list(own_slate.client.scan_iter(match=f"{{{own_slate.keys.prefix}:*}}:*:{KIND}:*", count=1000))
    assert kept
    own_slate.client.delete(*kept)
    ready.warm_in_background(models)
    assert ready.warm(models) == 0
    assert not any(t.is_alive() for t in ready._threads) and _ready_keys(own_slate) == []
