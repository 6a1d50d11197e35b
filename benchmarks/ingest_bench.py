"""One ingest pass with one stalled source, on loopback: the pass is bounded by the source budget.

The MLB Stats API is pointed at a server that accepts connections and never answers; Action
Network, VSIN and SBD at a server that answers at once (with bodies that do not parse: what is
measured is the time, not the data). Everything else is the default settings: 10 s per attempt,
retries with jitter, 25 s budget per source, sources fetched concurrently. Goal: the pass ends
within 30 s, and the answering sources are all fetched while the stalled one waits.

Run alone: ``python -m benchmarks.ingest_bench``.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.common import Result, scratch_database


class _Stalled:
    """Accepts every connection, reads the request, never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.stop = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

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
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.stop.set()
        for conn in self.held:
            conn.close()
        self.sock.close()


class _Quick(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def run() -> list[Result]:
    from mlbedge import ingest
    from mlbedge.settings import get_settings

    stalled = _Stalled()
    quick = ThreadingHTTPServer(("127.0.0.1", 0), _Quick)
    quick.daemon_threads = True
    threading.Thread(target=quick.serve_forever, args=(0.05,), daemon=True).start()
    quick_url = f"http://127.0.0.1:{quick.server_address[1]}"
    saved = dict(os.environ)
    try:
        with scratch_database() as url, tempfile.TemporaryDirectory() as home:
            os.environ.update(
                {
                    "MLBEDGE_HOME": str(Path(home)),
                    "MLBEDGE_DATABASE_URL": url,
                    "MLBEDGE_MLB_STATS_BASE_URL": f"{stalled.url}/mlb",
                    "MLBEDGE_ACTION_NETWORK_BASE_URL": f"{quick_url}/an",
                    "MLBEDGE_VSIN_BASE_URL": f"{quick_url}/vsin",
                    "MLBEDGE_SBD_BASE_URL": f"{quick_url}/sbd",
                    "MLBEDGE_SBD_FEEDS_BASE_URL": f"{quick_url}/srfeeds",
                }
            )
            get_settings.cache_clear()
            settings = get_settings()
            started = time.perf_counter()
            report = ingest.run(settings)
            seconds = time.perf_counter() - started
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        stalled.close()
        quick.shutdown()
        quick.server_close()
    others = [s for name, s in report.sources.items() if name != "mlb_stats"]
    mlb = report.sources["mlb_stats"]
    note = (
        f"stalled mlb_stats: {mlb.requests} request(s), 0 ok; others: "
        + ", ".join(f"{s.source} {s.requests} req" for s in others)
        + f"; {report.stored} attempts stored"
    )
    return [
        Result("ingest one stalled source", "pass wall time", seconds, "s", "<= 30 s", note),
        Result(
            "ingest one stalled source",
            "requests answered meanwhile",
            float(sum(s.requests for s in others)),
            "requests",
            "all planned",
            f"budget {settings.http_source_budget_seconds:g} s, attempt {settings.http_timeout_seconds:g} s",
        ),
    ]


if __name__ == "__main__":
    for r in run():
        print(f"| {r.benchmark} | {r.metric} | {r.value:.4g} | {r.unit} | {r.goal} | {r.note} |")
