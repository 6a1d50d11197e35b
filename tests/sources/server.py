"""Real HTTP servers on 127.0.0.1 for the source tests and the ingestion benchmark: routes by
path with scripted faults (:class:`FixtureServer`), and a raw socket that drips or stalls a body
(:class:`DripServer`).

A route answers ``(status, headers, body)`` for a request's query; a route may sleep first (to
make the client time out) or run a hook (to take the database away mid-poll). Every request is
logged with its time, so tests can check rate limits and retries.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, dict[str, str]], Reply]


@dataclass
class Hit:
    """One request the server saw."""

    path: str
    query: dict[str, str]
    at: float  # time.monotonic()


@dataclass
class FixtureServer:
    """Routes are regexes matched against the path; the first match answers."""

    routes: list[tuple[re.Pattern[str], Handler]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def route(self, pattern: str, handler: Handler) -> None:
        self.routes.append((re.compile(pattern), handler))

    def hits_for(self, pattern: str) -> list[Hit]:
        rx = re.compile(pattern)
        return [h for h in self.hits if rx.search(h.path)]

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FixtureServer:
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                owner.hits.append(Hit(split.path, query, time.monotonic()))
                for pattern, handler in owner.routes:
                    if pattern.fullmatch(split.path):
                        status, headers, body = handler(split.path, query)
                        break
                else:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: object) -> None:
                pass

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that timed out closes the socket mid-reply

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def json_reply(body: bytes, status: int = 200, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, body


def html_reply(body: bytes, status: int = 200) -> Reply:
    return status, {"Content-Type": "text/html; charset=utf-8"}, body


def slow(reply: Reply, seconds: float) -> Handler:
    """A route that answers only after ``seconds`` (longer than the client's timeout)."""

    def handler(path: str, query: dict[str, str]) -> Reply:
        time.sleep(seconds)
        return reply

    return handler


def sequence(*replies: Reply) -> Handler:
    """A route that answers with each reply in turn, then repeats the last one."""
    queue = list(replies)
    lock = threading.Lock()

    def handler(path: str, query: dict[str, str]) -> Reply:
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


class DripServer:
    """Accepts connections and answers headers, then one body byte every ``every`` seconds (or,
    with ``stall``, nothing at all)."""

    def __init__(self, every: float = 0.3, stall: bool = False) -> None:
        self.every = every
        self.stall = stall
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.stall:
                    self.stop.wait(60)
                    return
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                )
                while not self.stop.is_set():
                    conn.sendall(b" ")
                    time.sleep(self.every)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
