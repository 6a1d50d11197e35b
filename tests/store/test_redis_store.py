"""The Redis store against the machine's real Redis, with real 2016 feature rows."""

from __future__ import annotations

import math
import time
from datetime import date

import polars as pl
import pytest
import redis
from redis.crc import key_slot

from mlbedge.store.base import StoreError
from mlbedge.store.codec import Layout
from mlbedge.store.redis_store import RedisStore
from tests.store.conftest import FeatureDb

VERSION = "fs-test-a"


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def _expected(rows: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["game_id"]: r for r in rows.iter_rows(named=True)}


def _busy_dates(rows: pl.DataFrame, n: int, at_least: int = 12) -> list[date]:
    return (
        rows.group_by("date").len().filter(pl.col("len") >= at_least).sort("date")["date"].head(n).to_list()
    )


def test_round_trip_keeps_every_float_int_and_null_of_a_real_season(store: RedisStore, season_rows) -> None:  # type: ignore[no-untyped-def]
    report = store.write_batch(VERSION, season_rows)
    assert report.games == season_rows.height
    assert report.dates == season_rows["date"].n_unique()
    ids = season_rows["game_id"].to_list()
    expected = _expected(season_rows)
    mismatches: list[tuple[str, str]] = []
    kinds: set[str] = set()
    for start in range(0, len(ids), 500):
        result = store.read(ids[start : start + 500])
        assert result.missing == [] and not result.degraded
        for row in result.rows:
            want = expected[row.game_id]
            assert row.date == want["date"] and row.as_of == want["as_of"]
            assert row.feature_set_version == VERSION
            for name, value in zip(row.names, row.values, strict=True):
                kinds.add("null" if value is None else type(value).__name__)
                if not _same(value, want[name]):
                    mismatches.append((row.game_id, name))
    assert mismatches == []
    assert kinds == {"null", "float", "int"}


def test_read_keeps_the_order_asked_lists_unknown_ids_and_reads_duplicates_once(
    store: RedisStore, season_rows
) -> None:  # type: ignore[no-untyped-def]
    store.write_batch(VERSION, season_rows)
    ids = season_rows["game_id"].to_list()
    asked = [ids[900], "20990101-XXX-YYY-0", ids[3], ids[900], ids[1500]]
    result = store.read(asked)
    assert [r.game_id for r in result.rows] == [ids[900], ids[3], ids[1500]]
    assert result.missing == ["20990101-XXX-YYY-0"]
    assert store.read([]).rows == []


def test_read_slate_returns_the_dates_games_in_id_order(store: RedisStore, season_rows) -> None:  # type: ignore[no-untyped-def]
    store.write_batch(VERSION, season_rows)
    day = _busy_dates(season_rows, 1)[0]
    want = season_rows.filter(pl.col("date") == day)["game_id"].sort().to_list()
    result = store.read_slate(day)
    assert [r.game_id for r in result.rows] == want and result.missing == []
    assert {r.date for r in result.rows} == {day}
    assert store.read_slate(date(1999, 1, 1)).rows == []
    assert store.slate_dates() == sorted(season_rows["date"].unique().to_list())


def test_game_keys_carry_the_ttl_and_expire_while_the_catalogue_does_not(make_store, season_rows) -> None:  # type: ignore[no-untyped-def]
    rows = season_rows.head(40)
    long = make_store(ttl_seconds=3600)
    long.write_batch(VERSION, rows)
    blob_keys = [k for k in long.client.scan_iter(match=long.keys.patterns()[1], count=1000)]
    assert len(blob_keys) == 40
    ttls = [long.client.pttl(k) for k in blob_keys]
    assert all(0 < t <= 3_600_000 for t in ttls)
    assert {long.client.pttl(k) for k in (long.keys.slates, long.keys.games, long.keys.schemas)} == {-1}

    short = make_store(ttl_seconds=1)
    short.write_batch(VERSION, rows)
    ids = rows["game_id"].to_list()
    assert len(short.read(ids).rows) == 40
    time.sleep(1.3)
    gone = short.read(ids)
    assert gone.rows == [] and gone.missing == ids

    never = make_store(ttl_seconds=0)
    never.write_batch(VERSION, rows)
    assert {never.client.pttl(k) for k in never.client.scan_iter(match=never.keys.patterns()[1])} == {-1}


def test_writing_the_same_rows_again_switches_nothing_and_changes_no_key(
    store: RedisStore, season_rows
) -> None:  # type: ignore[no-untyped-def]
    first = store.write_batch(VERSION, season_rows)
    keys_before = set(store.client.scan_iter(match=store.keys.patterns()[1], count=1000))
    slates_before = store.client.hgetall(store.keys.slates)
    second = store.write_batch(VERSION, season_rows)
    assert len(first.switched) == first.dates and first.unchanged == []
    assert second.switched == [] and len(second.unchanged) == second.dates
    assert set(store.client.scan_iter(match=store.keys.patterns()[1], count=1000)) == keys_before
    assert store.client.hgetall(store.keys.slates) == slates_before
    # Nothing was scheduled to expire early: every blob still has (about) the full TTL.
    assert min(store.client.pttl(k) for k in list(keys_before)[:50]) > store.ttl_ms - 60_000  # type: ignore[operator]


def test_a_new_version_switches_the_slates_and_the_old_blobs_expire_after_the_grace(
    make_store, season_rows
) -> None:  # type: ignore[no-untyped-def]
    store = make_store(grace_seconds=5)
    rows = season_rows.filter(pl.col("date").is_in(_busy_dates(season_rows, 3)))
    store.write_batch("fs-old", rows)
    old_keys = set(store.client.scan_iter(match=store.keys.patterns()[1], count=1000))
    changed = rows.with_columns(pl.col("home_elo") + 1.0)
    report = store.write_batch("fs-new", changed)
    assert len(report.switched) == 3
    result = store.read(rows["game_id"].to_list())
    assert {r.feature_set_version for r in result.rows} == {"fs-new"}
    want = dict(zip(changed["game_id"], changed["home_elo"], strict=True))
    assert all(r["home_elo"] == want[r.game_id] for r in result.rows)
    assert all(0 < store.client.pttl(k) <= 5_000 for k in old_keys)


def test_a_slate_is_replaced_whole_so_a_game_dropped_from_its_date_disappears(
    store: RedisStore, season_rows
) -> None:  # type: ignore[no-untyped-def]
    day = _busy_dates(season_rows, 1)[0]
    slate = season_rows.filter(pl.col("date") == day)
    store.write_batch(VERSION, slate)
    dropped = slate["game_id"].sort()[0]
    store.write_batch(VERSION, slate.filter(pl.col("game_id") != dropped))
    assert dropped not in [r.game_id for r in store.read_slate(day).rows]
    assert store.read([dropped]).missing == [dropped]
    assert store.client.hget(store.keys.games, dropped) is None


def test_delete_removes_games_and_an_emptied_slate(store: RedisStore, season_rows) -> None:  # type: ignore[no-untyped-def]
    first, second = _busy_dates(season_rows, 2)
    rows = season_rows.filter(pl.col("date").is_in([first, second]))
    store.write_batch(VERSION, rows)
    one = rows.filter(pl.col("date") == first)["game_id"].sort().to_list()
    two = rows.filter(pl.col("date") == second)["game_id"].to_list()
    assert store.delete([one[0], one[1], "not-a-game"]) == 2
    assert [r.game_id for r in store.read_slate(first).rows] == one[2:]
    assert store.read(one[:2]).missing == one[:2]
    assert store.delete(two) == len(two)
    assert store.read_slate(second).rows == [] and store.slate_dates() == [first]
    assert store.delete([]) == 0


def test_key_layout_puts_a_slate_in_one_cluster_slot_and_spreads_dates(
    store: RedisStore, season_rows
) -> None:  # type: ignore[no-untyped-def]
    store.write_batch(VERSION, season_rows)
    by_slot: dict[int, set[str]] = {}
    for key in store.client.scan_iter(match=store.keys.patterns()[1], count=1000):
        day = key.decode().split("}", 1)[0].rsplit(":", 1)[1]
        by_slot.setdefault(key_slot(key), set()).add(day)
    # Every slot holds whole dates (a slate is one MGET on one node) ...
    assert all(len(days) >= 1 for days in by_slot.values())
    day_slots: dict[str, set[int]] = {}
    for slot, days in by_slot.items():
        for day in days:
            day_slots.setdefault(day, set()).add(slot)
    assert all(len(slots) == 1 for slots in day_slots.values())
    # ... the dates spread over many slots, and the catalogue shares one slot.
    assert len(by_slot) > 150
    assert len({key_slot(k.encode()) for k in (store.keys.slates, store.keys.games, store.keys.schemas)}) == 1


class CountingConnection(redis.Connection):
    """A real connection that counts the requests it sends (a pipeline is one)."""

    sent = 0

    def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        CountingConnection.sent += 1
        return super().send_packed_command(command, check_health)


def test_a_warm_read_is_one_round_trip(redis_url: str, season_rows) -> None:  # type: ignore[no-untyped-def]
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    store = RedisStore(redis.Redis(connection_pool=pool), prefix=f"mlbedge_test_rt_{id(pool)}")
    try:
        store.write_batch(VERSION, season_rows.head(300))
        ids = season_rows.head(300)["game_id"].to_list()
        day = season_rows["date"][0]
        store.read(ids[:16])
        store.read_slate(day)
        counts = []
        for call in (
            lambda: store.read([ids[7]]),
            lambda: store.read(ids[:16]),
            lambda: store.read_slate(day),
        ):
            CountingConnection.sent = 0
            assert call().rows
            counts.append(CountingConnection.sent)
        assert counts == [1, 1, 1]
    finally:
        store.clear()
        store.close()


def test_a_reader_with_another_registry_decodes_by_the_stored_layout(make_store, season_rows) -> None:  # type: ignore[no-untyped-def]
    writer = make_store()
    writer.write_batch(VERSION, season_rows.head(20))
    current = Layout.from_registry()
    other = Layout(tuple(reversed(current.names)), tuple(reversed(current.dtypes)))
    reader = RedisStore(writer.client, prefix=writer.keys.prefix, layout=other)
    row = reader.read([season_rows["game_id"][5]]).rows[0]
    assert row.names == current.names
    want = season_rows.row(5, named=True)
    assert all(_same(row[n], want[n]) for n in current.names)


def test_bad_batches_are_refused_with_what_is_wrong(store: RedisStore, season_rows) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match="lack columns"):
        store.write_batch(VERSION, season_rows.head(3).drop("home_elo"))
    twice = pl.concat([season_rows.head(2), season_rows.head(1)])
    with pytest.raises(StoreError, match=season_rows["game_id"][0]):
        store.write_batch(VERSION, twice)
    assert store.write_batch(VERSION, season_rows.head(0)).games == 0
    assert store.slate_dates() == []


def test_health_reports_a_real_round_trip(store: RedisStore) -> None:
    health = store.health()
    assert health.ok and health.latency_ms is not None and 0 < health.latency_ms < 100


def test_the_feature_db_fixture_is_real(feature_db: FeatureDb) -> None:
    assert feature_db.rows.height == 2462 and feature_db.version.startswith("fs-")
