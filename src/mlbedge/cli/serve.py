"""``mlbedge serve``: the prediction API under uvicorn."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

import typer

from mlbedge.cli.options import HomeOption, console, settings_for


def serve(
    host: str | None = typer.Option(
        None, "--host", help="Interface to bind (default MLBEDGE_SERVE_HOST, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port (default MLBEDGE_SERVE_PORT, 8000)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Log every request."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, max=64, help="API processes on the port (default MLBEDGE_SERVE_WORKERS, 1)."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Serve predictions, recommendations and models over HTTP; GET /ready answers 200 once it can serve."""
    import uvicorn

    from mlbedge.serving.processes import serve_workers, uvicorn_config

    settings = settings_for(home)
    # MLflow's client retries a dead server for minutes by default; the API has its disk cache
    # and its own probe, so a registry call may fail fast instead (a user's own values win).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a server log, not a terminal
    bind_host = host or settings.serve_host
    bind_port = port or settings.serve_port
    processes = workers or settings.serve_workers
    console.print(
        f"mlbedge API on http://{bind_host}:{bind_port} (docs at /docs, metrics at /metrics)"
        + (f", {processes} processes" if processes > 1 else "")
    )
    if processes > 1:
        # The workers read their settings from the environment: they must know they are several.
        os.environ["MLBEDGE_SERVE_WORKERS"] = str(processes)
        raise typer.Exit(
            serve_workers(bind_host, bind_port, processes, log_level=log_level, access_log=access_log)
        )
    # uvicorn shuts down gracefully on SIGTERM, then hands the signal to the handler it found: this
    # one exits normally, so the exit hooks stop the embedded PostgreSQL and Redis of the default.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    config = uvicorn_config(
        settings, log_level=log_level, access_log=access_log, host=bind_host, port=bind_port
    )
    uvicorn.Server(config).run()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
