"""Start and stop a real ``mlflow server`` (the tracking server and model registry) on this machine.

Used by the tests and the benchmark, and usable by hand. Started lean: job execution off and one
worker (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``, ``--workers 1``), bound to loopback. A
PostgreSQL backend URL is read through psycopg 3 (``postgresql+psycopg://``); artifacts go to a
local folder served by the server itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def sqlalchemy_url(url: str) -> str:
    """A PostgreSQL URL with the psycopg 3 driver named (SQLAlchemy's default driver is psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class MlflowServer:
    """A running server: its URL, how long it took to answer, and its process."""

    url: str
    backend_uri: str
    artifacts: Path
    startup_seconds: float
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server and its worker (they share a process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def start_mlflow_server(
    backend_uri: str,
    artifacts: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 120.0,
    log_path: Path | None = None,
) -> MlflowServer:
    """Start ``mlflow server`` and wait until ``/health`` answers; RuntimeError (with its log) if not."""
    port = port or free_port(host)
    artifacts.mkdir(parents=True, exist_ok=True)
    log_path = log_path or artifacts.parent / f"mlflow-server-{port}.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri", sqlalchemy_url(backend_uri),
        "--artifacts-destination", str(artifacts),
        "--host", host,
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    # A client's tracking URI in this process's environment means nothing to the server.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        # A process group of its own: the server runs uvicorn as a child, and both must stop.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://{host}:{port}"
    server = MlflowServer(url, backend_uri, artifacts, 0.0, process, log_path)
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with {process.returncode}; its log ({log_path}):\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.perf_counter() - started > timeout:
            server.stop()
            raise RuntimeError(
                f"mlflow server at {url} did not answer within {timeout:.0f} s; log: {log_path}"
            )
        time.sleep(0.2)
    server.startup_seconds = time.perf_counter() - started
    return server


@contextmanager
def running_mlflow_server(backend_uri: str, artifacts: Path, **kwargs: object) -> Iterator[MlflowServer]:
    """:func:`start_mlflow_server` for the length of a ``with`` block."""
    server = start_mlflow_server(backend_uri, artifacts, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
