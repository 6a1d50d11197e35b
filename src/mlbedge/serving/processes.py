"""Several API processes on one port: each binds it with ``SO_REUSEPORT`` and the kernel spreads
the connections between them.

One Python process serves requests on one core at most; ``serve_workers`` processes use them all.
They share everything that must be shared through Redis already: the online store and its ready
answers, the rate limiter's counts, and the stamp by which a model reload reaches every process
(:mod:`mlbedge.serving.reloads`). Each process is a whole API (:func:`mlbedge.serving.app.create_app`),
started from the same settings (the environment) in a fresh interpreter.

The parent only watches: it binds the port without listening (so a port in use fails at once, and
no connection is ever queued on it), starts the workers, starts a worker again if one dies, and on
SIGTERM or SIGINT stops them all and waits for them to finish their requests.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from types import FrameType
from typing import Any

from mlbedge.settings import Settings, get_settings

log = logging.getLogger(__name__)

_BACKLOG = 2048
_RESTART_PAUSE = 1.0


def bind(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket on ``host:port`` shared with the other workers (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(_BACKLOG)
    return sock


def uvicorn_config(settings: Settings, *, log_level: str, access_log: bool, **extra: Any) -> Any:
    """The uvicorn configuration of one API process."""
    import uvicorn

    from mlbedge.serving.app import create_app
    from mlbedge.serving.limits import uvicorn_options

    return uvicorn.Config(
        create_app(settings),
        log_level=log_level,
        access_log=access_log,
        loop="auto",
        lifespan="on",
        **uvicorn_options(settings),  # header deadline, proxy trust
        **extra,
    )


def _worker(host: str, port: int, log_level: str, access_log: bool) -> None:
    """One API process (the target of a spawned worker)."""
    import uvicorn

    sock = bind(host, port)
    config = uvicorn_config(get_settings(), log_level=log_level, access_log=access_log)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, *, log_level: str, access_log: bool) -> int:
    """Run ``workers`` API processes on ``host:port`` until SIGTERM or SIGINT; returns an exit code."""
    guard = bind(host, port, listen=False)  # the port is ours (or this fails now, naming it)
    context = multiprocessing.get_context("spawn")
    args = (host, port, log_level, access_log)
    stopping = False

    def start(index: int) -> Any:
        process = context.Process(target=_worker, args=args, name=f"mlbedge-api-{index}", daemon=False)
        process.start()
        return process

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    processes = [start(i) for i in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    log.warning(
                        "API process %s exited (code %s): starting it again", process.name, process.exitcode
                    )
                    time.sleep(_RESTART_PAUSE)
                    processes[i] = start(i)
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
        guard.close()
    return 0
