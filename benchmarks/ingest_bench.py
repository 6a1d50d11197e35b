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
import tempfile
import time
from pathlib import Path

from tests.sources.server import DripServer, FixtureServer, json_reply

from benchmarks.common import Result, scratch_database


def run() -> list[Result]:
    from mlbedge import ingest
    from mlbedge.settings import get_settings

    stalled = DripServer(stall=True)
    quick = FixtureServer().start()
    quick.route(r".*", lambda path, query: json_reply(b"{}"))
    quick_url = quick.url
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
        quick.stop()
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
