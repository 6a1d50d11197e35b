"""A per-client rate limit kept in Redis: N requests per window, then 429 with ``Retry-After``.

A fixed window per client, counted by one Lua script (INCR, and PEXPIRE on the window's first
request), so every API process behind a load balancer shares the same counts and a check is one
round trip. The client is its address, unless it sends one of the configured API keys
(``api_keys``): then that key (hashed: keys never reach Redis in clear). A key nobody configured
counts for nothing, so sending a new random key per request is limited like one client (and
leaves no key per request in Redis).

Failed admin authentications are counted per address in a window of their own
(:meth:`RateLimiter.admin_blocked`, :meth:`RateLimiter.admin_failed`): past the limit the address
is refused with 429 before its token is even compared.

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
from typing import Any

import redis.asyncio as aioredis

from mlbedge.store.redis_store import REDIS_ERRORS

log = logging.getLogger(__name__)

# One request counted against KEYS[1] in a window of ARGV[1] ms: ``count`` and ``ttl`` (ms left).
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
"""
_SCRIPT = _COUNT + "return {count, ttl}\n"
# The count (when ARGV[2] is '1') and, in the same round trip, the fields ARGV[4..3+n] of the
# hash KEYS[2] (n = ARGV[3]) and the values of KEYS[3..]: {count, ttl, fields, values}.
_COUNT_AND_READ = (
    "local count, ttl = 0, 0\nif ARGV[2] == '1' then\n"
    + _COUNT.replace("local count", "count").replace("local ttl", "ttl")
    + """end
local n = tonumber(ARGV[3])
local fields = {}
for i = 1, n do
  fields[i] = ARGV[3 + i]
end
local entries = n > 0 and redis.call('HMGET', KEYS[2], unpack(fields)) or {}
local values = #KEYS > 2 and redis.call('MGET', unpack(KEYS, 3)) or {}
return {count, ttl, entries, values}
"""
)


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


def key_digest(api_key: str) -> str:
    """The short hash an API key is counted under."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def client_key(api_key: str | None, address: str | None, known: frozenset[str] = frozenset()) -> str:
    """The identity a limit is counted under: a configured key (``known`` holds their
    :func:`key_digest`), else the address."""
    if api_key:
        digest = key_digest(api_key)
        if digest in known:
            return "key:" + digest
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
        self._read_script: object | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused_until = 0.0

    def _redis(self) -> aioredis.Redis:
        # Created lazily, inside the running event loop: an asyncio pool belongs to one loop (a
        # test client may run each request in a loop of its own).
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._loop = loop
            # A blocking pool: under a burst a check waits its turn for a connection instead of
            # failing (which would read as "Redis unreachable" and pause the checks).
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                max_connections=64,
                timeout=self._timeout * 4,
            )
            self._client = aioredis.Redis(connection_pool=pool)
            self._script = self._client.register_script(_SCRIPT)
            self._read_script = self._client.register_script(_COUNT_AND_READ)
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
        except REDIS_ERRORS as exc:
            log.warning("rate limiter: Redis unreachable, letting requests through: %s", exc)
            self._paused_until = time.monotonic() + self.retry_seconds
            return Decision(True, 0, self.limit, 0.0, checked=False)
        return self._counted(count, ttl_ms)

    def _counted(self, count: Any, ttl_ms: Any) -> Decision:
        """The decision for a request that is the ``count``-th of its window (``ttl_ms`` left)."""
        n = int(count)
        return Decision(n <= self.limit, n, self.limit, max(int(ttl_ms), 0) / 1000.0)

    async def check_and_read(
        self, client: str, hash_key: str, fields: list[str], keys: list[str]
    ) -> tuple[Decision, list[bytes | None], list[bytes | None]] | None:
        """:meth:`check` of ``client`` and, in the same round trip, ``HMGET hash_key fields`` and
        ``MGET keys`` (all keys of one Redis: not for a cluster). None when Redis did not answer
        (the checks then pause as :meth:`check`'s do): the caller asks again the slow way."""
        if time.monotonic() < self._paused_until:
            return None
        counted = self.limit > 0
        try:
            self._redis()
            count, ttl_ms, entries, values = await self._read_script(  # type: ignore[operator]
                keys=[f"{self.prefix}:ratelimit:{client}", hash_key, *keys],
                args=[self.window_ms, "1" if counted else "0", len(fields), *fields],
            )
        except REDIS_ERRORS as exc:
            log.warning("rate limiter: Redis unreachable, letting requests through: %s", exc)
            self._paused_until = time.monotonic() + self.retry_seconds
            return None
        decision = self._counted(count, ttl_ms) if counted else Decision(True, 0, 0, 0.0, checked=False)
        return decision, list(entries), list(values)

    async def admin_blocked(self, client: str, limit: int) -> int | None:
        """Seconds until ``client`` may try the admin token again, or None when it may now.
        Never raises (an unreachable Redis blocks nobody: the token still has to match)."""
        if time.monotonic() < self._paused_until:
            return None
        key = f"{self.prefix}:adminfail:{client}"
        try:
            client_ = self._redis()
            count, ttl_ms = await client_.get(key), await client_.pttl(key)
        except REDIS_ERRORS as exc:
            log.warning("rate limiter: Redis unreachable, admin failures not checked: %s", exc)
            self._paused_until = time.monotonic() + self.retry_seconds
            return None
        if count is None or int(count) < limit:
            return None
        return max(1, math.ceil(max(int(ttl_ms), 0) / 1000))

    async def admin_failed(self, client: str, window_seconds: float) -> None:
        """Count one failed admin authentication of ``client``; never raises."""
        try:
            self._redis()
            await self._script(
                keys=[f"{self.prefix}:adminfail:{client}"], args=[max(1, int(window_seconds * 1000))]
            )  # type: ignore[operator]
        except REDIS_ERRORS as exc:
            log.warning("rate limiter: Redis unreachable, admin failure not counted: %s", exc)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose(close_connection_pool=True)
            self._client = None
