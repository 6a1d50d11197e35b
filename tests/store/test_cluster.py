"""The store on a real three-node Redis Cluster that the test starts on free ports and stops.

The key layout is what makes this work: each date's blobs share one hash slot (a slate is one
MGET on one node), dates spread over every node, and the catalogue hashes share one slot so a
switch stays a single atomic HSET.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import redis

from mlbedge.store.redis_store import RedisStore
from tests.store.test_switch import exercise_switches


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        # Cluster nodes also listen on port + 10000 (the bus): keep both in range.
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[int]]:
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    assert binary and cli, "redis-server and redis-cli must be installed"
    ports = [p for p in _free_ports(12) if p < 55000][:3]
    processes = []
    try:
        for port in ports:
            folder = tmp_path / str(port)
            folder.mkdir()
            command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                       "--cluster-config-file", str(folder / "nodes.conf"), "--save", "", "--appendonly", "no",
                       "--dir", str(folder), "--daemonize", "no"]  # fmt: skip
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports:
            for _ in range(100):
                try:
                    if redis.Redis(port=port, socket_connect_timeout=0.2).ping():
                        break
                except redis.ConnectionError:
                    time.sleep(0.05)
        created = subprocess.run(
            [cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
             "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        for _ in range(100):
            if all(redis.Redis(port=p).cluster("info").get("cluster_state") == "ok" for p in ports):
                break
            time.sleep(0.05)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def test_the_store_works_on_a_cluster_and_spreads_slates_over_its_nodes(
    cluster: list[int], season_rows
) -> None:  # type: ignore[no-untyped-def]
    url = f"redis://127.0.0.1:{cluster[0]}/0"
    writer = RedisStore.from_url(url, prefix="clustered", cluster=True)
    reader = RedisStore.from_url(url, prefix="clustered", cluster=True)
    try:
        report = writer.write_batch("fs-A", season_rows)
        assert report.games == season_rows.height
        sizes = [redis.Redis(port=p).dbsize() for p in cluster]
        assert all(n > 200 for n in sizes) and sum(sizes) == season_rows.height + 3
        ids = season_rows["game_id"].to_list()
        got = reader.read(ids[:500])
        assert got.missing == [] and [r.game_id for r in got.rows] == ids[:500]
        want = dict(zip(season_rows["game_id"], season_rows["home_elo"], strict=True))
        assert all(r["home_elo"] == want[r.game_id] for r in got.rows)
        day = season_rows["date"][1000]
        slate = reader.read_slate(day)
        assert [r.game_id for r in slate.rows] == sorted(season_rows.filter(pl.col("date") == day)["game_id"])

        run = exercise_switches(writer, reader, season_rows, duration_s=1.0)
        assert run.problems == [] and run.switches >= 5 and run.incomplete == 0
        assert run.seen["fs-A"] > 0 and run.seen["fs-B"] > 0

        assert writer.delete(ids[:3]) == 3 and reader.read(ids[:3]).missing == ids[:3]
        assert writer.clear() > season_rows.height - 3
        assert sum(redis.Redis(port=p).dbsize() for p in cluster) == 0
    finally:
        writer.close()
        reader.close()
