"""Model hot reload under load, and restarts while the MLflow registry is down.

Each test registers the session's logged models under a model prefix of its own, so promoting a
version here never changes what another test serves.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from mlbedge.settings import Settings
from mlbedge.training import registry
from tests.serving.conftest import (
    MARKETS,
    Registered,
    ServedApp,
    admin_headers,
    free_port,
    register_as,
)

WORKERS = 4


def _versions(prediction: dict[str, Any]) -> set[str]:
    return {m["model"]["version"] for m in prediction["markets"]}


def _probabilities(prediction: dict[str, Any]) -> list[float]:
    return [m["sides"][0]["probability"] for m in prediction["markets"]]


def test_hot_reload_under_concurrent_requests_drops_nothing(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    registered: Registered,
    slate_ids: list[str],
) -> None:
    """While four clients keep asking (singles and batches), version 2 is promoted and reloaded:
    every request succeeds, every answer comes from one model set (never a mix of versions), each
    client sees version 1 then version 2 and never back, and the numbers change with the version."""
    settings = make_settings(model_name_prefix=f"swap{uuid.uuid4().hex[:8]}")
    assert set(register_as(registered.first, settings).values()) == {"1"}
    assert set(register_as(registered.second, settings).values()) == {"2"}
    app = serve(settings)
    games = slate_ids[:4]
    stop = threading.Event()
    logs: list[list[tuple[int, int, str, dict[str, Any] | None]]] = [[] for _ in range(WORKERS)]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            with app.client() as c:
                i = 0
                while not stop.is_set():
                    game = games[(i + k) % len(games)]
                    if i % 5 == 4:
                        response = c.post("/v1/predictions", json={"game_ids": games})
                        body = response.json() if response.status_code == 200 else None
                        for p in body["predictions"] if body else [None]:
                            logs[k].append((i, response.status_code, "batch", p))
                    else:
                        response = c.get(f"/v1/predictions/{game}")
                        body = response.json() if response.status_code == 200 else None
                        logs[k].append((i, response.status_code, "single", body))
                    i += 1
        except BaseException as exc:  # a failed request must fail the test, not vanish in a thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(WORKERS)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for market in MARKETS:
        registry.promote(registry.model_name(market, settings), "2", settings=settings)
    with app.client() as c:
        reload = c.post("/v1/admin/reload", headers=admin_headers())
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=30)

    assert not errors, errors
    assert reload.status_code == 200, reload.text
    assert [(ch["before"], ch["after"], ch["changed"]) for ch in reload.json()["changes"]] == [
        ("1", "2", True)
    ] * 3
    entries = [entry for log in logs for entry in log]
    assert len(entries) > 100
    assert {status for _, status, _, _ in entries} == {200}
    first_seen: dict[tuple[str, str], list[float]] = {}
    for log in logs:
        versions = []
        for _, _, _, prediction in log:
            assert prediction is not None
            found = _versions(prediction)
            assert len(found) == 1, f"one answer mixed model versions: {found}"
            version = found.pop()
            versions.append(version)
            key = (prediction["game_id"], version)
            # Same game, same version: the same numbers, whichever client asked.
            assert first_seen.setdefault(key, _probabilities(prediction)) == _probabilities(prediction)
        assert versions == sorted(versions), "a client saw version 1 again after version 2"
    assert {v for _, v in first_seen} == {"1", "2"}
    for game in games:
        assert first_seen[(game, "1")] != first_seen[(game, "2")]
    with app.client() as c:
        after = c.get(f"/v1/predictions/{games[0]}").json()
        metrics = c.get("/metrics").text
    assert _versions(after) == {"2"}
    assert 'mlbedge_model_reloads_total{result="ok"} 1.0' in metrics
    assert (
        f'mlbedge_model_version{{name="{settings.model_name_prefix}-moneyline",target="moneyline"}} 2.0'
        in metrics
    )


def test_restart_while_the_registry_is_down_serves_the_cached_champions(
    serve: Callable[[Settings], ServedApp],
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    slate_ids: list[str],
) -> None:
    """A restart with MLflow unreachable loads the champions saved by the last run under the same
    home; a reload then fails with 503 and changes nothing. Without a cache there is no model."""
    home = tmp_path / "home"
    game = slate_ids[0]
    first = serve(make_settings(home=home))
    with first.client() as c:
        expected = c.get(f"/v1/predictions/{game}").json()
    first.stop()

    dead = f"http://127.0.0.1:{free_port()}"
    started = time.perf_counter()
    second = serve(make_settings(home=home, mlflow_tracking_uri=dead, serve_registry_timeout_seconds=0.5))
    assert time.perf_counter() - started < 15  # no MLflow retry loop at startup
    with second.client() as c:
        prediction = c.get(f"/v1/predictions/{game}")
        models = c.get("/v1/models").json()
        ready = c.get("/ready")
        reload = c.post("/v1/admin/reload", headers=admin_headers())
        again = c.get(f"/v1/predictions/{game}").json()
        metrics = c.get("/metrics").text
    assert prediction.status_code == 200 and prediction.json() == expected
    assert ready.status_code == 200
    assert models["registry_reachable"] is False
    assert {t["serving_source"] for t in models["targets"]} == {"disk_cache"}
    assert all(t["champion"] is None and t["serving"]["version"] == "1" for t in models["targets"])
    assert models["targets"][0]["serving"]["metrics"]["oof_log_loss"] > 0  # kept in the cache
    assert reload.status_code == 503
    assert dead in reload.json()["detail"] and "unchanged" in reload.json()["detail"]
    assert again == expected
    assert 'mlbedge_model_reloads_total{result="registry_unavailable"} 1.0' in metrics
    assert 'source="disk_cache"' in metrics

    empty = serve(
        make_settings(home=tmp_path / "fresh", mlflow_tracking_uri=dead, serve_registry_timeout_seconds=0.5)
    )
    with empty.client() as c:
        response = c.get(f"/v1/predictions/{game}")
    assert response.status_code == 503
    assert "no champion model" in response.json()["detail"] and dead in response.json()["detail"]


@pytest.fixture
def slate_ids(serving_db) -> list[str]:  # type: ignore[no-untyped-def]
    """The ids of the served date's games, from PostgreSQL."""
    from tests.serving.conftest import SLATE_DAY

    return serving_db.features.filter(pl.col("date") == SLATE_DAY)["game_id"].sort().to_list()
