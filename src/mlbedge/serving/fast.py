"""The prediction routes' fast path: ready answers served without going through FastAPI.

``GET /v1/predictions/{game_id}`` and ``POST /v1/predictions`` are most of the traffic, and for a
game whose answer is ready (:mod:`mlbedge.serving.ready`) the answer is a few kilobytes already in
Redis. This ASGI middleware, in front of the FastAPI app, takes such a request when it is well
formed (a valid id; a JSON body that is exactly ``{"game_ids": [...]}`` of valid ids within the
batch bound), reads the served model set once, and asks Redis in one round trip for the client's
rate-limit count and the games' answers. When every game has a current answer and the client is
within its limit, the bytes are the response: the same bytes the route would have built (a batch
is its answers joined in request order, repeats answered again), the same counters, the same
latency histogram label.

Everything else goes on to the FastAPI app unchanged -- a miss, a switched slate, a client over its
limit, Redis down, a request the route would refuse -- carrying the rate-limit decision already
made, so the request is counted once and answered (or refused: 404, 422, 429, 503) exactly as the
routes do. The routes keep the answers they compute, so the next request finds them ready.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlbedge.serving.dependencies import API_KEY_HEADER, RATE_DECISION, ServingState
from mlbedge.serving.ratelimit import client_key
from mlbedge.serving.schemas import GAME_ID_PATTERN

SINGLE_ROUTE = "/v1/predictions/{game_id}"
BATCH_ROUTE = "/v1/predictions"
_SINGLE_PREFIX = "/v1/predictions/"
_GAME_ID = re.compile(GAME_ID_PATTERN)
_KEY_HEADER = API_KEY_HEADER.lower().encode("latin-1")
_JSON_HEADERS = [(b"content-type", b"application/json")]
# A batch body larger than this is left to the route (the bound is far above 64 ids).
_MAX_FAST_BODY = 16_384


@dataclass(frozen=True)
class _Template:
    """What the latency middleware reads of a matched route: its path template."""

    path: str


_SINGLE, _BATCH = _Template(SINGLE_ROUTE), _Template(BATCH_ROUTE)


class ReadyAnswerMiddleware:
    """Serves ready answers of the prediction routes (see the module notes); ``api`` is the
    FastAPI app (its serving state and routes), ``batch_max`` the batch bound of its settings."""

    def __init__(self, app: ASGIApp, *, api: Any, batch_max: int) -> None:
        self.app = app
        self.api = api
        self.batch_max = batch_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "GET" and path.startswith(_SINGLE_PREFIX):
                game_id = path[len(_SINGLE_PREFIX) :]
                if _GAME_ID.fullmatch(game_id) and await self._answer(scope, [game_id], send, single=True):
                    return
            elif method == "POST" and path == BATCH_ROUTE:
                ids, receive = await self._batch_ids(scope, receive)
                if ids is not None and await self._answer(scope, ids, send, single=False):
                    return
        await self.app(scope, receive, send)

    async def _batch_ids(self, scope: Scope, receive: Receive) -> tuple[list[str] | None, Receive]:
        """The batch's ids when its body is a plain valid request, and a ``receive`` that hands the
        body (or the error reading it) on to the app."""
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if (
            not length.isdigit()
            or int(length) > _MAX_FAST_BODY
            or headers.get(b"content-type", b"").split(b";")[0].strip() != b"application/json"
        ):
            return None, receive
        chunks: list[bytes] = []
        messages: list[Message] = []
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except Exception as exc:  # a body timeout or limit: the route's error handlers answer it
            failure = exc

            async def failing() -> Message:
                if messages:
                    return messages.pop(0)
                raise failure

            return None, failing

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return _valid_ids(b"".join(chunks), self.batch_max), replay

    async def _answer(self, scope: Scope, game_ids: list[str], send: Send, *, single: bool) -> bool:
        state: ServingState | None = self.api.state.serving
        ready = state.ready if state is not None else None
        if state is None or ready is None:
            return False
        models = state.models.current
        if not models.models:
            return False
        client = scope.get("client")
        address = client[0] if client else None
        api_key = next((v.decode("latin-1") for k, v in scope["headers"] if k == _KEY_HEADER), None)
        who = client_key(api_key, address, state.api_keys)
        decision, hit = await ready.lookup(who, game_ids, ready.key(models))
        if decision is not None:
            scope[RATE_DECISION] = decision  # the route's rate-limit dependency must not count again
        if hit is None:
            return False
        state.metrics.record_read(False)
        state.metrics.count_predictions(m for game_id in game_ids for m in hit.markets[game_id])
        if single:
            body = hit.bodies[game_ids[0]]
        else:
            body = b'{"predictions":[' + b",".join(hit.bodies[g] for g in game_ids)
            body += b'],"not_found":[],"degraded":false}'
        scope["route"] = _SINGLE if single else _BATCH  # the latency histogram's label
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), *_JSON_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True


def _valid_ids(body: bytes, batch_max: int) -> list[str] | None:
    """The ids of a body that is exactly ``{"game_ids": [...]}`` with 1 to ``batch_max`` valid ids."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or list(parsed) != ["game_ids"]:
        return None
    ids = parsed["game_ids"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= batch_max:
        return None
    if not all(isinstance(g, str) and _GAME_ID.fullmatch(g) for g in ids):
        return None
    return ids
