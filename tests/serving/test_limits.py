"""The API's limits cannot be walked around: a new X-API-Key per request is one client, admin
token guesses run out, slow headers and slow bodies are cut off, large bodies refused.

Every test drives the real server (uvicorn with the API's protocol and middleware) over sockets.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable

import redis

from mlbedge.settings import Settings
from tests.serving.conftest import REDIS_URL, ServedApp, admin_headers


def _ratelimit_keys(prefix: str, kind: str = "ratelimit") -> list[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=f"{prefix}:{kind}:*", count=1000))
    finally:
        client.close()


def _delete(keys: list[bytes]) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(*keys)
    finally:
        client.close()


def test_fresh_random_api_keys_are_limited_like_one_client(
    serve: Callable[[Settings], ServedApp], make_settings: Callable[..., Settings]
) -> None:
    configured = f"known-{uuid.uuid4().hex}"
    settings = make_settings(
        rate_limit_requests=50,
        rate_limit_window_seconds=3600,
        api_keys=configured,
        store_key_prefix=f"mlbedge_test_lim_{uuid.uuid4().hex[:8]}",  # counters of this test alone
    )
    app = serve(settings)
    with app.client() as c:
        statuses = [
            c.get("/v1/models", headers={"X-API-Key": uuid.uuid4().hex}).status_code for _ in range(200)
        ]
        # A configured key has a budget of its own, untouched by the address's.
        keyed = [c.get("/v1/models", headers={"X-API-Key": configured}).status_code for _ in range(51)]
    assert statuses.count(200) == 50 and statuses.count(429) == 150
    assert keyed == [200] * 50 + [429]
    # One counter for the address and one for the configured key: no key per random header.
    keys = _ratelimit_keys(settings.store_key_prefix)
    assert len(keys) == 2 and sum(k.split(b":")[-2] == b"ip" for k in keys) == 1
    _delete(keys)


def test_admin_failures_are_limited_per_address(
    serve: Callable[[Settings], ServedApp], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        admin_failure_limit=3,
        admin_failure_window_seconds=60,
        rate_limit_requests=0,
        store_key_prefix=f"mlbedge_test_adm_{uuid.uuid4().hex[:8]}",  # counters of this test alone
    )
    app = serve(settings)
    with app.client() as c:
        guesses = [
            c.post("/v1/admin/reload", headers={"Authorization": f"Bearer guess-{i}"}).status_code
            for i in range(3)
        ]
        blocked = c.post("/v1/admin/reload", headers={"Authorization": "Bearer guess-4"})
        # Even the right token is refused now: guessing cannot go on, the owner waits too.
        right = c.post("/v1/admin/reload", headers=admin_headers())
    assert guesses == [403, 403, 403]
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 60
    assert "too many failed authentications" in blocked.json()["detail"]
    assert right.status_code == 429
    keys = _ratelimit_keys(settings.store_key_prefix, "adminfail")
    assert len(keys) == 1
    _delete(keys)


def _connect(app: ServedApp) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", app.port), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_slow_headers_are_cut_off(
    serve: Callable[[Settings], ServedApp], make_settings: Callable[..., Settings]
) -> None:
    app = serve(make_settings(serve_header_timeout_seconds=1.0))
    with _connect(app) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        for _ in range(10):
            time.sleep(0.2)
            try:
                sock.sendall(b"X-Drip: 1\r\n")  # still dripping
            except OSError:
                break
        answer = _read_all(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 0.9 <= elapsed < 3.0
    # A normal request on a fresh connection is not affected.
    with app.client() as c:
        assert c.get("/health").status_code == 200


def test_slow_and_large_bodies_are_refused(
    serve: Callable[[Settings], ServedApp], make_settings: Callable[..., Settings]
) -> None:
    app = serve(
        make_settings(serve_body_timeout_seconds=1.0, serve_max_body_bytes=4096, rate_limit_requests=0)
    )
    head = b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with _connect(app) as sock:
        started = time.monotonic()
        sock.sendall(head + b"Content-Length: 100\r\n\r\n" + b'{"game_ids": [')  # then nothing
        answer = _read_all(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"request body not received in time" in answer
    assert 0.9 <= elapsed < 3.0

    with _connect(app) as sock:  # declared too large: refused before a byte of it is read
        sock.sendall(head + b"Content-Length: 5000000\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer

    with _connect(app) as sock:  # streamed (chunked) past the limit
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            sock.sendall(b"800\r\n" + b" " * 0x800 + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"request body larger than 4096 bytes" in answer

    with app.client() as c:  # a normal body still works
        ok = c.post("/v1/predictions", json={"game_ids": ["20160802-NYY-NYM-0"]})
    assert ok.status_code == 200
