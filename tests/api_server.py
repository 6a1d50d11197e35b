"""The real app under uvicorn on a free loopback port, for tests that need no models."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from mlbedge.settings import Settings
from tests.redis_server import free_port


@contextmanager
def served_without_models(settings: Settings) -> Iterator[httpx.Client]:
    """The app of ``settings`` (its serving state started without loading champions) behind
    uvicorn in a thread; yields a client on its URL and stops everything afterwards."""
    from mlbedge.serving.app import create_app
    from mlbedge.serving.dependencies import ServingState

    state = ServingState.start(settings, load_models=False)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, state=state), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        state.close()
