"""An open-loop HTTP load generator: requests sent on a fixed schedule, whatever the answers do.

``wrk`` is closed-loop: each connection waits for an answer before its next request, so a slow
server is sent less work and its queueing never shows (coordinated omission). Here request ``i``
is due at ``start + i / rate``; it goes out on an idle keep-alive connection, on a new one (up to
``--connections``), or waits in a queue for the next connection to free up. Its latency is counted
from the moment it was **due**, so time spent queued (in this process or in the server) counts.

Run it as a process of its own, beside the server::

    python -m benchmarks.openloop --url http://127.0.0.1:8000 --rate 2000 --seconds 20 \
        --requests requests.json

``requests.json`` is a list of ``[method, path, body]`` (body a string or null), sent in turn. The
summary is one JSON line (``OPENLOOP_JSON {...}``): requests due and answered, the rate achieved,
non-2xx answers, requests never answered (within 5 s of the end) and failed connection attempts, latency percentiles from the due time (and, for
comparison, from the moment the request was written), the longest the generator itself ran behind
its schedule, the connections used and the CPU seconds this process spent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np


@dataclass
class _Pending:
    due: float
    payload: bytes
    recorded: bool  # false during the warm-up
    sent: float = 0.0


@dataclass
class _Stats:
    latency: list[float] = field(default_factory=list)  # seconds from due to answered
    service: list[float] = field(default_factory=list)  # seconds from written to answered
    lag: float = 0.0  # the longest a request went out after its due time on an idle connection
    non_2xx: int = 0
    connect_errors: int = 0


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time, answers parsed by Content-Length."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.current: _Pending | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: _Pending) -> None:
        self.current = request
        request.sent = time.perf_counter()
        assert self.transport is not None
        self.transport.write(request.payload)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        lines = bytes(self.buffer[:head_end]).split(b"\r\n")
        length = 0
        for line in lines[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if len(self.buffer) < head_end + 4 + length:
            return
        status = int(lines[0][9:12])
        del self.buffer[: head_end + 4 + length]
        done, self.current = self.current, None
        if done is not None:
            self.client.answered(self, done, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(self)


class _Client:
    def __init__(self, host: str, port: int, max_connections: int) -> None:
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.idle: list[_Connection] = []
        self.connections = 0
        self.opening = 0
        self.queue: deque[_Pending] = deque()
        self.stats = _Stats()
        self.in_flight = 0

    def submit(self, request: _Pending) -> None:
        self.in_flight += 1
        if self.idle:
            connection = self.idle.pop()
            self.stats.lag = max(self.stats.lag, time.perf_counter() - request.due)
            connection.send(request)
            return
        self.queue.append(request)
        if self.connections + self.opening < self.max_connections:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.opening -= 1
            self.stats.connect_errors += 1
            return
        self.opening -= 1
        self.connections += 1
        self._ready(protocol)

    def _ready(self, connection: _Connection) -> None:
        if self.queue:
            connection.send(self.queue.popleft())
        else:
            self.idle.append(connection)

    def answered(self, connection: _Connection, request: _Pending, status: int) -> None:
        now = time.perf_counter()
        self.in_flight -= 1
        if request.recorded:
            self.stats.latency.append(now - request.due)
            self.stats.service.append(now - request.sent)
            if not 200 <= status < 300:
                self.stats.non_2xx += 1
        self._ready(connection)

    def lost(self, connection: _Connection) -> None:
        self.connections -= 1
        if connection in self.idle:
            self.idle.remove(connection)
        if connection.current is not None:  # never answered: counted as unanswered
            self.in_flight -= 1


def _payloads(host: str, requests: list[list[str | None]]) -> list[bytes]:
    out = []
    for method, path, body in requests:
        if body is None:
            out.append(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        else:
            data = body.encode()
            out.append(
                f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
    return out


async def _run(
    url: str, rate: float, seconds: float, warmup: float, payloads: list[bytes], connections: int
) -> dict[str, float]:
    parts = urlsplit(url)
    client = _Client(parts.hostname or "127.0.0.1", parts.port or 80, connections)
    interval = 1.0 / rate
    total = int((warmup + seconds) * rate)
    first_recorded = int(warmup * rate)
    start = time.perf_counter() + 0.05
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    i = 0
    while i < total:
        now = time.perf_counter()
        due = start + i * interval
        if due > now:
            # The event loop's timers tick in whole milliseconds (a shorter sleep spins): requests
            # go out in the tick they fall due in, and their latency counts from their due time.
            await asyncio.sleep(max(due - now, 0.001))
            continue
        # Everything due by now goes out; the recording starts after the warm-up.
        while i < total and start + i * interval <= now:
            if i == first_recorded:  # the warm-up's errors and lag are not the measurement's
                client.stats = _Stats()
            client.submit(_Pending(start + i * interval, payloads[i % len(payloads)], i >= first_recorded))
            i += 1
    deadline = time.perf_counter() + 5.0
    while client.in_flight > 0 and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    stats = client.stats
    latency = np.asarray(stats.latency) * 1e3
    service = np.asarray(stats.service) * 1e3
    recorded = total - first_recorded
    answered = latency.size

    def pct(values: np.ndarray, q: float) -> float:
        return float(np.percentile(values, q)) if values.size else float("nan")

    return {
        "rate_asked": rate,
        "seconds": seconds,
        "due": recorded,
        "answered": answered,
        "rate": answered / seconds,
        "non_2xx": stats.non_2xx,
        "unanswered": recorded - answered,
        "connect_errors": stats.connect_errors,
        "errors": stats.non_2xx + (recorded - answered) + stats.connect_errors,
        "p50_ms": pct(latency, 50),
        "p90_ms": pct(latency, 90),
        "p99_ms": pct(latency, 99),
        "p999_ms": pct(latency, 99.9),
        "max_ms": float(latency.max()) if latency.size else float("nan"),
        "service_p50_ms": pct(service, 50),
        "service_p99_ms": pct(service, 99),
        "generator_lag_max_ms": stats.lag * 1e3,
        "connections": client.connections,
        "cpu_seconds": (cpu_after.ru_utime + cpu_after.ru_stime)
        - (cpu_before.ru_utime + cpu_before.ru_stime),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds at the rate before measuring")
    parser.add_argument("--connections", type=int, default=256, help="most keep-alive connections opened")
    parser.add_argument("--requests", type=Path, required=True, help="JSON list of [method, path, body]")
    args = parser.parse_args(argv)
    import uvloop  # uvicorn[standard] brings it: the same event loop as the server's

    host = urlsplit(args.url).netloc
    payloads = _payloads(host, json.loads(args.requests.read_text()))
    summary = uvloop.run(_run(args.url, args.rate, args.seconds, args.warmup, payloads, args.connections))
    print("OPENLOOP_JSON " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
