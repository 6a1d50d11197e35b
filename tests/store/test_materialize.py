"""Materialization from curated.game_features (real 2016 rows) into the real Redis, and its CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import get_settings
from mlbedge.store.base import StoreError
from mlbedge.store.materialize import materialize
from mlbedge.store.redis_store import RedisStore
from tests.conftest import ADMIN_URL, drop_database
from tests.store.conftest import FeatureDb


def test_a_season_materializes_completely_and_a_rerun_switches_nothing(
    make_store, feature_db: FeatureDb
) -> None:  # type: ignore[no-untyped-def]
    store: RedisStore = make_store()
    rows = feature_db.rows
    with psycopg.connect(feature_db.url) as conn:
        first = materialize(conn, store, seasons=[2016])
        keys = set(store.client.scan_iter(match=store.keys.patterns()[1], count=1000))
        second = materialize(conn, store, seasons=[2016])
    assert (first.games, first.dates) == (rows.height, rows["date"].n_unique())
    assert first.switched == first.dates and first.unchanged == 0
    assert first.feature_set_version == feature_db.version
    assert second.switched == 0 and second.unchanged == second.dates
    assert set(store.client.scan_iter(match=store.keys.patterns()[1], count=1000)) == keys
    assert len(keys) == rows.height
    result = store.read(rows["game_id"].to_list())
    assert result.missing == [] and {r.feature_set_version for r in result.rows} == {feature_db.version}


def test_one_date_materializes_only_that_slate(make_store, feature_db: FeatureDb) -> None:  # type: ignore[no-untyped-def]
    store: RedisStore = make_store()
    day = date(2016, 6, 15)
    with psycopg.connect(feature_db.url) as conn:
        report = materialize(conn, store, dates=[day])
        with pytest.raises(LookupError, match="2015"):
            materialize(conn, store, seasons=[2015])
    want = feature_db.rows.filter(pl.col("date") == day)["game_id"].sort().to_list()
    assert report.games == len(want) > 10 and report.dates == 1
    assert store.slate_dates() == [day]
    assert [r.game_id for r in store.read_slate(day).rows] == want


@pytest.fixture
def db_copy(feature_db: FeatureDb) -> Iterator[str]:
    """A private, writable copy of the feature database."""
    name = f"mlbedge_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{feature_db.url.rsplit("/", 1)[1]}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        drop_database(url)


def test_rows_of_two_feature_sets_are_refused_naming_both(
    make_store, db_copy: str, feature_db: FeatureDb
) -> None:  # type: ignore[no-untyped-def]
    store: RedisStore = make_store()
    with psycopg.connect(db_copy) as conn:
        conn.execute(
            "UPDATE curated.game_features SET feature_set_version = 'fs-older' WHERE date < '2016-05-01'"
        )
        with pytest.raises(StoreError, match=r"fs-older.*2016-04-03.*rebuild") as info:
            materialize(conn, store, seasons=[2016])
        assert feature_db.version in str(info.value)
        # A selection inside one feature set is fine.
        assert materialize(conn, store, dates=[date(2016, 6, 1)]).games > 0
    assert store.slate_dates() == [date(2016, 6, 1)]


def _text(output: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(output.split())


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, feature_db: FeatureDb, redis_url: str
) -> Iterator[str]:
    prefix = f"mlbedge_test_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", feature_db.url)
    monkeypatch.setenv("MLBEDGE_REDIS_URL", redis_url)
    monkeypatch.setenv("MLBEDGE_STORE_KEY_PREFIX", prefix)
    get_settings.cache_clear()
    yield prefix
    get_settings.cache_clear()


def test_cli_features_materialize(cli_env: str, redis_url: str, feature_db: FeatureDb) -> None:
    runner = CliRunner()
    store = RedisStore.from_url(redis_url, prefix=cli_env)
    try:
        result = runner.invoke(app, ["features", "materialize", "--date", "2016-06-15"])
        assert result.exit_code == 0, result.output
        assert "15 games on 1 date (" in _text(result.output) and "1 slate switched" in _text(result.output)
        assert store.slate_dates() == [date(2016, 6, 15)]

        result = runner.invoke(app, ["features", "materialize", "--seasons", "2016"])
        assert result.exit_code == 0, result.output
        assert f"materialized {feature_db.rows.height:,} games" in _text(result.output)
        assert f"{feature_db.rows['date'].n_unique() - 1} slates switched, 1 unchanged" in _text(
            result.output
        )
        assert len(store.slate_dates()) == feature_db.rows["date"].n_unique()

        both = runner.invoke(app, ["features", "materialize", "--date", "2016-06-15", "--seasons", "2016"])
        assert both.exit_code == 1
        bad = runner.invoke(app, ["features", "materialize", "--date", "June 15"])
        assert bad.exit_code == 2 and "YYYY-MM-DD" in _text(bad.output)
        none = runner.invoke(app, ["features", "materialize", "--seasons", "2012"])
        assert none.exit_code == 1
    finally:
        store.clear()
        store.close()


def test_cli_feast_needs_a_tcp_redis(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLBEDGE_REDIS_URL")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["feast", "apply"])
    assert result.exit_code == 1
    missing = CliRunner().invoke(app, ["feast", "materialize"])
    assert missing.exit_code == 1
