"""The online store on this machine's loopback Redis, with a real season of features.

Goals (issue 7): read one game p99 <= 1 ms, a 16-game slate p99 <= 2 ms, materialize a full season
(about 2,430 games) <= 2 s. Side by side in the same run: MessagePack against JSON (encode +
decode time and bytes per game), and the same reads through Feast's ``get_online_features``.

The season is 2016 from the SBRO file, run through the real feature pipeline into a scratch
database. Feast is not in the main virtualenv (it pins older redis-py and pandas), so its part runs
as a subprocess in ``.venv-feast`` (``make feast-test`` builds it) via
``python -m benchmarks.store_bench feast ...``, which also times the native store in that same
interpreter so that the ratio compares like with like.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.features.io import build_and_store, read_features
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from mlbedge.store.codec import JsonCodec, Layout, MsgpackCodec, positional_rows
from mlbedge.store.materialize import materialize
from mlbedge.store.redis_store import RedisStore

REDIS_URL = os.environ.get("MLBEDGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SEASON = 2016
REPO = Path(__file__).resolve().parents[1]
FEAST_PYTHON = REPO / ".venv-feast" / "bin" / "python"
BENCH = "online store"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds of samples in seconds."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1e3, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3


def _time_calls(call: Callable[[Any], object], args: list[Any], warmup: int) -> list[float]:
    for arg in args[:warmup]:
        call(arg)
    samples = []
    for arg in args[warmup:]:
        started = time.perf_counter()
        call(arg)
        samples.append(time.perf_counter() - started)
    return samples


def _read_workloads(
    rows: pl.DataFrame, n_single: int, n_slates: int, seed: int = 7
) -> tuple[list, list, list]:
    """Random single games, random 16-game reads (from the dates with the most games), and dates."""
    rng = random.Random(seed)
    ids = rows["game_id"].to_list()
    per_day = rows.group_by("date").agg(pl.col("game_id").sort()).filter(pl.col("game_id").list.len() >= 15)
    days = per_day["date"].to_list()
    games = per_day["game_id"].to_list()
    # A day has 15 games at most apart from doubleheaders: 16 = one full slate plus a game of another day.
    sixteens = [(*rng.choice(games), rng.choice(ids))[:16] for _ in range(n_slates)]
    return [[rng.choice(ids)] for _ in range(n_single)], sixteens, [rng.choice(days) for _ in range(n_slates)]


def native_reads(
    store: RedisStore, rows: pl.DataFrame, n_single: int, n_slates: int, rounds: int = 3
) -> dict[str, float]:
    """p50/p99 (ms) of one-game reads, 16-game reads and whole-slate reads on a materialized store.

    Measured in ``rounds`` independent rounds; each percentile is the median over the rounds
    (``*_p99_worst`` keeps the worst round), so one burst of load from another process on this
    2-core machine does not decide the number alone.
    """
    per_round: dict[str, list[float]] = {}
    for round_no in range(rounds):
        singles, sixteens, days = _read_workloads(rows, n_single, n_slates, seed=7 + round_no)
        one = _time_calls(store.read, singles, max(50, len(singles) // 10))
        sixteen = _time_calls(store.read, sixteens, max(20, len(sixteens) // 10))
        slate = _time_calls(store.read_slate, days, max(20, len(days) // 10))
        for name, samples in (("one", one), ("sixteen", sixteen), ("slate", slate)):
            p50, p99 = _percentiles(samples)
            per_round.setdefault(f"{name}_p50", []).append(p50)
            per_round.setdefault(f"{name}_p99", []).append(p99)
    out = {key: sorted(values)[len(values) // 2] for key, values in per_round.items()}
    out.update({f"{key}_worst": max(values) for key, values in per_round.items() if key.endswith("p99")})
    return out


def _season(conn: psycopg.Connection, data_dir: Path) -> pl.DataFrame:
    migrate(conn)
    load_sbro_files(conn, [data_dir / "sbr" / f"mlb_odds_sbr_{SEASON}.csv"])
    rebuild_games(conn)
    build_and_store(conn, seasons=[SEASON], full=True)
    conn.commit()
    return read_features(conn, seasons=[SEASON])


def _codec_results(rows: pl.DataFrame) -> list[Result]:
    layout = Layout.from_registry()
    positional = positional_rows(rows, layout)
    named = [dict(zip(("as_of", *layout.names), r, strict=True)) for r in positional]
    results = []
    measured: dict[str, tuple[float, float]] = {}
    for codec in (MsgpackCodec(), JsonCodec()):
        best = float("inf")
        size = 0
        for _ in range(5):
            started = time.perf_counter()
            blobs = [codec.encode(r) for r in positional]
            for blob in blobs:
                codec.decode(blob)
            best = min(best, time.perf_counter() - started)
            size = sum(map(len, blobs))
        per_game_us = best / len(positional) * 1e6
        measured[codec.name] = (per_game_us, size / len(positional))
        results.append(Result(BENCH, f"{codec.name}: encode + decode per game", per_game_us, "us"))
        results.append(Result(BENCH, f"{codec.name}: bytes per game", size / len(positional), "B"))
    (mp_t, mp_b), (js_t, js_b) = measured["msgpack"], measured["json"]
    named_bytes = sum(len(JsonCodec().encode(r)) for r in named[:500]) / min(500, len(named))  # type: ignore[arg-type]
    results += [
        Result(
            BENCH, "JSON / MessagePack: encode + decode time", js_t / mp_t, "x", note="same run, same rows"
        ),
        Result(BENCH, "JSON / MessagePack: bytes per game", js_b / mp_b, "x", note="same positional array"),
        Result(
            BENCH,
            "JSON object with names: bytes per game",
            named_bytes,
            "B",
            note=f"{named_bytes / mp_b:.1f}x MessagePack's: why names are not repeated per blob",
        ),
    ]
    return results


def run() -> list[Result]:
    """Every store benchmark; the Feast part only where .venv-feast (or Feast itself) exists."""
    results: list[Result] = []
    with scratch_database() as url, psycopg.connect(url) as conn:
        rows = _season(conn, Settings().data_dir)
        n_features = len(Layout.from_registry().names)
        results.append(
            Result(
                BENCH, "season used", rows.height, "games", note=f"{SEASON}, {n_features} features per game"
            )
        )
        # Materialization: a fresh namespace each time (every slate switches), then a rerun.
        firsts = []
        stores = []
        try:
            for _ in range(3):
                store = RedisStore.from_url(REDIS_URL, prefix=f"mlbedge_bench_{uuid.uuid4().hex[:8]}")
                stores.append(store)
                seconds, report = timed(lambda s=store: materialize(conn, s, seasons=[SEASON]))
                firsts.append(seconds)
            rerun, again = timed(lambda: materialize(conn, stores[0], seasons=[SEASON]))
            assert again.switched == 0, "a rerun must switch nothing"
            results.append(
                Result(
                    BENCH,
                    "materialize a season (PG -> Redis), median of 3",
                    sorted(firsts)[1],
                    "s",
                    goal="<= 2 s",
                    note=f"{report.games} games, {report.dates} slates; read {report.seconds['read']:.3f} s, "
                    f"write {report.seconds['write']:.3f} s",
                )
            )
            results.append(Result(BENCH, "materialize again (idempotent, nothing switches)", rerun, "s"))
            reads = native_reads(stores[0], rows, n_single=4000, n_slates=1500)
        finally:
            for store in stores:
                store.clear()
                store.close()
        rounds = "median of 3 rounds; worst round {:.3f} ms"
        results += [
            Result(BENCH, "read one game p50", reads["one_p50"], "ms"),
            Result(
                BENCH,
                "read one game p99",
                reads["one_p99"],
                "ms",
                goal="<= 1 ms",
                note=rounds.format(reads["one_p99_worst"]),
            ),
            Result(BENCH, "read 16 games p50", reads["sixteen_p50"], "ms"),
            Result(
                BENCH,
                "read 16 games p99",
                reads["sixteen_p99"],
                "ms",
                goal="<= 2 ms",
                note=rounds.format(reads["sixteen_p99_worst"]),
            ),
            Result(
                BENCH,
                "read a whole slate (15-16 games) p99",
                reads["slate_p99"],
                "ms",
                goal="<= 2 ms",
                note=rounds.format(reads["slate_p99_worst"]),
            ),
        ]
        results += _codec_results(rows)
        results += _feast_results(url, reads)
    return results


def _feast_results(db_url: str, native: dict[str, float]) -> list[Result]:
    if importlib.util.find_spec("feast") is not None:
        command = [sys.executable]
    elif FEAST_PYTHON.exists():
        command = [str(FEAST_PYTHON)]
    else:
        return [
            Result(
                BENCH,
                "Feast get_online_features",
                float("nan"),
                "ms",
                note="not measured: no .venv-feast (build it with `make feast-test`)",
            )
        ]
    proc = subprocess.run(
        [*command, "-m", "benchmarks.store_bench", "feast", "--db-url", db_url, "--redis-url", REDIS_URL],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"Feast benchmark failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    feast = json.loads(proc.stdout.strip().splitlines()[-1])
    twin = feast["native"]
    return [
        Result(BENCH, "Feast: read one game p50", feast["one_p50"], "ms"),
        Result(BENCH, "Feast: read one game p99", feast["one_p99"], "ms"),
        Result(BENCH, "Feast: read 16 games p99", feast["sixteen_p99"], "ms"),
        Result(
            BENCH,
            "Feast / native: read one game p50",
            feast["one_p50"] / twin["one_p50"],
            "x",
            note=f"same interpreter (.venv-feast); native there p50 {twin['one_p50']:.3f} ms",
        ),
        Result(
            BENCH,
            "Feast / native: read 16 games p50",
            feast["sixteen_p50"] / twin["sixteen_p50"],
            "x",
            note=f"native there p50 {twin['sixteen_p50']:.3f} ms; main venv p50 {native['sixteen_p50']:.3f} ms",
        ),
        Result(BENCH, "Feast / native: read one game p99", feast["one_p99"] / twin["one_p99"], "x"),
        Result(BENCH, "Feast / native: read 16 games p99", feast["sixteen_p99"] / twin["sixteen_p99"], "x"),
        Result(
            BENCH,
            "Feast: materialize the season",
            feast["materialize_s"],
            "s",
            note="Feast's own materialize",
        ),
    ]


def feast_main(db_url: str, redis_url: str) -> dict[str, Any]:
    """The Feast side (runs where Feast is installed): apply, materialize, read; and the native
    store's reads in the same interpreter. Prints nothing but the JSON line."""
    import tempfile

    from mlbedge.features.registry import feature_set_version
    from mlbedge.store.feast import generate_repo, ops

    project = f"mlbedge_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(db_url) as conn:
        rows = read_features(conn, seasons=[SEASON])
        repo = generate_repo(
            Path(tmp) / "feast",
            redis_url=redis_url,
            feature_set_version=feature_set_version(Settings().cutoff_minutes),
            project=project,
        )
        native = RedisStore.from_url(redis_url, prefix=project)
        try:
            ops.export_offline(conn, repo, seasons=[SEASON])
            ops.apply(repo)
            materialize_s, _ = timed(lambda: ops.materialize(repo))
            store = ops.feature_store(repo)
            refs_all = None  # every feature

            def feast_read(ids: list[str]) -> object:
                return ops.online_features(repo, ids, refs_all, store=store)

            singles, sixteens, _ = _read_workloads(rows, n_single=600, n_slates=300)
            one = _time_calls(feast_read, singles, 100)
            sixteen = _time_calls(feast_read, sixteens, 50)
            materialize(conn, native, seasons=[SEASON])
            twin = native_reads(native, rows, n_single=1500, n_slates=500)
        finally:
            native.clear()
            native.close()
            if repo.registry_path.exists():
                ops.teardown(repo)
    out: dict[str, Any] = {"materialize_s": materialize_s, "native": twin}
    out["one_p50"], out["one_p99"] = _percentiles(one)
    out["sixteen_p50"], out["sixteen_p99"] = _percentiles(sixteen)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("part", choices=["all", "feast"])
    parser.add_argument("--db-url")
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    if args.part == "feast":
        result = feast_main(args.db_url, args.redis_url)
        sys.stdout.write("\n" + json.dumps(result) + "\n")
    else:
        for r in run():
            print(r)
