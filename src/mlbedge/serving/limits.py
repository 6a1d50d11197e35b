"""Limits on what one connection may cost the API: header and body timeouts, a body size cap.

- **Headers**: :class:`GuardedHttpProtocol` (uvicorn's httptools protocol) closes a connection
  that has not sent a complete request head within ``serve_header_timeout_seconds`` of opening or
  of starting a request, so clients dripping headers (slowloris) cannot hold connections open.
- **Body**: :class:`BodyLimitMiddleware` answers 413 to a ``Content-Length`` above
  ``serve_max_body_bytes`` before reading anything, 413 to a streamed body that grows past it, and
  408 to a body that stalls for ``serve_body_timeout_seconds``.

:func:`uvicorn_options` gathers the server side (protocol, proxy trust) for ``mlbedge serve``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlbedge.settings import Settings

_HEADER_TIMEOUT_BODY = b'{"detail":"request headers not received in time"}'
_HEADER_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: "
    + str(len(_HEADER_TIMEOUT_BODY)).encode()
    + b"\r\nconnection: close\r\n\r\n"
    + _HEADER_TIMEOUT_BODY
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline on every request head (see the module docstring)."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_HEADER_TIMEOUT_RESPONSE)
            self.transport.close()


def protocol_class(header_timeout: float) -> type[GuardedHttpProtocol]:
    """:class:`GuardedHttpProtocol` with its header deadline set."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"header_timeout": header_timeout})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings the API runs with: the guarded protocol, and which proxies are trusted."""
    proxies = [p.strip() for p in (settings.serve_trusted_proxies or "").split(",") if p.strip()]
    return {
        "http": protocol_class(settings.serve_header_timeout_seconds),
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }


class BodyTooLargeError(HTTPException):
    """The request body is larger than the API accepts."""

    def __init__(self, limit: int) -> None:
        # The rest of the body is never read: the connection cannot carry another request.
        super().__init__(413, f"request body larger than {limit} bytes", headers={"Connection": "close"})


class BodyTimeoutError(HTTPException):
    """The request body stalled."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"request body not received in time (nothing for {seconds:g} s)",
            headers={"Connection": "close"},
        )


class BodyLimitMiddleware:
    """413 above ``max_bytes``, 408 when the body stalls ``timeout`` s (see the module docstring).

    The errors are raised from ``receive`` as HTTP exceptions, so the app's error handlers answer
    them like any other; a body declared too large is refused before the app runs.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await _plain(send, 413, f"request body larger than {self.max_bytes} bytes")
                return
        received = 0
        body_done = False

        async def guarded() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body: a disconnect listener may wait as long as it likes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise BodyTimeoutError(self.timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        await self.app(scope, guarded, send)


async def _plain(send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        }
    )  # fmt: skip
    await send({"type": "http.response.body", "body": body})
