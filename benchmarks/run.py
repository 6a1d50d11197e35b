"""``make bench``: run every benchmark, print a table, keep the numbers in benchmarks/results."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from benchmarks.common import Result, machine

# Each module exposes run() -> list[Result]; a module not yet written is reported, not hidden.
MODULES = [
    "benchmarks.load_bench",
    "benchmarks.features_bench",
    "benchmarks.store_bench",
    "benchmarks.training_bench",
    "benchmarks.api_bench",
    "benchmarks.backtest_bench",
    "benchmarks.ingest_bench",
    "benchmarks.monitor_bench",
    "benchmarks.multi_season_bench",
]


def main(argv: list[str]) -> int:
    selected = [m for m in MODULES if not argv or any(a in m for a in argv)]
    results: list[Result] = []
    failures = 0
    for name in selected:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"{name}: not present, skipped")
                continue
            raise
        print(f"running {name} ...", flush=True)
        try:
            results.extend(module.run())
        except Exception as exc:  # a broken benchmark must not hide the others' numbers
            failures += 1
            print(f"{name} FAILED: {exc!r}")
    print(f"\nmachine: {machine()}\n")
    print("| benchmark | metric | value | unit | goal | note |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.benchmark} | {r.metric} | {r.value:.4g} | {r.unit} | {r.goal} | {r.note} |")
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"{stamp}.json").write_text(
        json.dumps({"machine": machine(), "results": [r.as_dict() for r in results]}, indent=2)
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
