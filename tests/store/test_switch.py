"""Version switches under concurrent readers: no reader ever sees a mixed slate.

A writer keeps replacing the same slates with version A, then B, then A... (B differs from A in
every float feature), while reader threads read whole slates and multi-date game lists as fast
as they can. Every row a reader gets must carry exactly the values of the version its slate
says, and every slate (and every multi-date read, whose slates switch in one command) must come
from one version only.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import polars as pl
import pytest

from mlbedge.store.redis_store import RedisStore

DURATION_S = 1.5
READERS = 4


@dataclass
class SwitchRun:
    """What happened during one run of switches under readers."""

    switches: int = 0
    reads: int = 0
    incomplete: int = 0
    seen: dict[str, int] = field(default_factory=lambda: {"fs-A": 0, "fs-B": 0})
    problems: list[str] = field(default_factory=list)


def exercise_switches(
    writer: RedisStore, reader: RedisStore, season_rows: pl.DataFrame, duration_s: float = DURATION_S
) -> SwitchRun:
    """Switch 8 slates back and forth under READERS reader threads; record every inconsistency."""
    days = (
        season_rows.group_by("date").len().filter(pl.col("len") >= 12).sort("date")["date"].head(8).to_list()
    )
    rows = season_rows.filter(pl.col("date").is_in(days))
    names = list(writer.layout.names)
    floats = [c for c in names if rows.schema[c] == pl.Float64]
    versions = {"fs-A": rows, "fs-B": rows.with_columns(pl.col(c) + 1000.0 for c in floats)}
    expected = {
        v: {r[0]: r[1:] for r in frame.select("game_id", *names).rows()} for v, frame in versions.items()
    }
    slate_size = dict(rows.group_by("date").len().iter_rows())
    ids_by_day = {d: rows.filter(pl.col("date") == d)["game_id"].to_list() for d in days}
    writer.write_batch("fs-A", versions["fs-A"])
    run = SwitchRun()
    stop = threading.Event()
    lock = threading.Lock()

    def check(result, what: str, want_size: int) -> None:  # type: ignore[no-untyped-def]
        got_versions = {r.feature_set_version for r in result.rows}
        if len(got_versions) > 1:
            run.problems.append(f"{what}: mixed versions {sorted(got_versions)}")
            return
        for row in result.rows:
            if row.values != expected[row.feature_set_version][row.game_id]:
                run.problems.append(
                    f"{what}: {row.game_id} values are not those of {row.feature_set_version}"
                )
                return
        with lock:
            run.reads += 1
            for v in got_versions:
                run.seen[v] += 1
            if len(result.rows) != want_size:
                run.incomplete += 1

    def read_loop(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set() and not run.problems:
            if rng.random() < 0.5:
                day = rng.choice(days)
                check(reader.read_slate(day), f"slate {day}", slate_size[day])
            else:
                picked = rng.sample(days, 3)
                ids = [g for d in picked for g in ids_by_day[d]]
                check(reader.read(ids), f"games of {picked}", len(ids))

    threads = [threading.Thread(target=read_loop, args=(i,)) for i in range(READERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + duration_s
    try:
        while time.monotonic() < deadline and not run.problems:
            version = "fs-B" if run.switches % 2 == 0 else "fs-A"
            report = writer.write_batch(version, versions[version])
            assert len(report.switched) == len(days)
            run.switches += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    return run


@pytest.mark.parametrize("grace_seconds", [60.0, 0.0], ids=["grace", "no-grace"])
def test_no_reader_ever_sees_a_mixed_slate(make_store, season_rows, grace_seconds: float) -> None:  # type: ignore[no-untyped-def]
    writer: RedisStore = make_store(grace_seconds=grace_seconds)
    reader: RedisStore = make_store(prefix=writer.keys.prefix)  # another client, as another process would be
    run = exercise_switches(writer, reader, season_rows)
    assert run.problems == []
    assert run.switches >= 10, f"only {run.switches} switches: the test did not exercise the switch"
    assert run.seen["fs-A"] > 0 and run.seen["fs-B"] > 0, run.seen
    assert run.reads > 100
    if grace_seconds > 0:
        # Replaced versions stay readable for the grace period: every read is complete too.
        assert run.incomplete == 0
