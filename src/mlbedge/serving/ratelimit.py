"""A per-client rate limit kept in Redis: N requests per window, then 429 with ``Retry-After``.

A fixed window per client, counted by one Lua script (INCR, and PEXPIRE on the window's first
request), so every API process behind a load balancer shares the same counts and a check is one
round trip. The client is its ``X-API-Key`` when it sends one (hashed: keys never reach Redis in
clear), else its address.

When the limiter's Redis is unreachable the request is let through and counted as an error, and
checks pause for ``retry_seconds``: the limit protects the service, it must not take it down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True)
class Decision:
    """One check: allowed or not, the count in this window, and seconds until the window resets."""

    allowed: bool
    count: int
    limit: int
    reset_seconds: float
    checked: bool = True

    @property
    def retry_after(self) -> int:
        """Whole seconds a refused client should wait (``Retry-After``), at least 1."""
        return max(1, math.ceil(self.reset_seconds))


def client_key(api_key: str | None, address: str | None) -> str:
    """The identity a limit is counted under."""
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:24]
    return f"ip:{address or 'unknown'}"


class RateLimiter:
    """``limit`` requests per ``window_seconds`` per client (``limit`` 0: no limit)."""

    def __init__(
        self,
        url: str,
        *,
        limit: int,
        window_seconds: float,
        prefix: str = "mlbedge",
        timeout_seconds: float = 0.5,
        retry_seconds: float = 1.0,
    ) -> None:
        self.limit = limit
        self.window_ms = max(1, int(window_seconds * 1000))
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        self._url = url
        self._timeout = timeout_seconds
        self._client: aioredis.Redis | None = None
        self._script: object | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused_until = 0.0

    def _redis(self) -> aioredis.Redis:
        # Created lazily, inside the running event loop: an asyncio pool belongs to one loop (a
        # test client may run each request in a loop of its own).
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._loop = loop
            self._client = aioredis.Redis.from_url(
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                max_connections=64,
            )
            self._script = self._client.register_script(_SCRIPT)
        return self._client

    async def check(self, client: str) -> Decision:
        """Count one request of ``client``; never raises."""
        if self.limit <= 0:
            return Decision(True, 0, 0, 0.0, checked=False)
        if time.monotonic() < self._paused_until:
            return Decision(True, 0, self.limit, 0.0, checked=False)
        try:
            self._redis()
            count, ttl_ms = await self._script(
                keys=[f"{self.prefix}:ratelimit:{client}"], args=[self.window_ms]
            )  # type: ignore[operator]
        except (RedisConnectionError, RedisTimeoutError, OSError, RedisError) as exc:
            log.warning("rate limiter: Redis unreachable, letting requests through: %s", exc)
            self._paused_until = time.monotonic() + self.retry_seconds
            return Decision(True, 0, self.limit, 0.0, checked=False)
        count = int(count)
        return Decision(count <= self.limit, count, self.limit, max(int(ttl_ms), 0) / 1000.0)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
