"""Feast and the native store return identical values for the same games (runs in .venv-feast).

Real 2016 features go from curated.game_features into the native Redis store (mlbedge's
materialize) and, through the CLI, into Feast (``mlbedge feast apply`` generates the repo from the
registry and applies it; ``mlbedge feast materialize`` exports the Parquet source and loads it into
the same Redis). Every value of every game must then be equal through both read paths.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import get_settings
from mlbedge.store.feast import FeastRepo, ops
from mlbedge.store.materialize import materialize
from mlbedge.store.redis_store import RedisStore
from tests.store.conftest import FeatureDb

pytestmark = pytest.mark.feast


@pytest.fixture(scope="module")
def feast_repo(
    tmp_path_factory: pytest.TempPathFactory, feature_db: FeatureDb, redis_url: str
) -> Iterator[FeastRepo]:
    """A Feast project applied and materialized through the CLI; torn down afterwards. Read only."""
    project = f"mlbedge_test_{uuid.uuid4().hex[:10]}"
    tmp_path = tmp_path_factory.mktemp("feast")
    repo = FeastRepo((tmp_path / "repo").resolve(), project)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
        env.setenv("MLBEDGE_DATABASE_URL", feature_db.url)
        env.setenv("MLBEDGE_REDIS_URL", redis_url)
        get_settings.cache_clear()
        yield from _applied(repo, runner)
    get_settings.cache_clear()


def _applied(repo: FeastRepo, runner: CliRunner) -> Iterator[FeastRepo]:
    project = repo.project
    try:
        applied = runner.invoke(app, ["feast", "apply", "--repo", str(repo.path), "--project", project])
        assert applied.exit_code == 0, applied.output
        loaded = runner.invoke(
            app, ["feast", "materialize", "--seasons", "2016", "--repo", str(repo.path), "--project", project]
        )
        assert loaded.exit_code == 0, loaded.output
        assert "Feast materialized 2,462 games" in " ".join(loaded.output.split())
        yield repo
    finally:
        if repo.registry_path.exists():
            ops.teardown(repo)


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and isinstance(a, int) == isinstance(b, int)


def test_feast_and_the_native_store_return_identical_values(
    feast_repo: FeastRepo, feature_db: FeatureDb, make_store
) -> None:  # type: ignore[no-untyped-def]
    native: RedisStore = make_store()
    with psycopg.connect(feature_db.url) as conn:
        materialize(conn, native, seasons=[2016])
    ids = feature_db.rows["game_id"].to_list()
    store = ops.feature_store(feast_repo)
    differences: list[tuple[str, str, object, object]] = []
    kinds: set[str] = set()
    compared = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        ours = native.read(chunk)
        assert ours.missing == []
        theirs = ops.online_features(feast_repo, chunk, store=store)
        assert theirs["game_id"] == chunk
        for i, row in enumerate(ours.rows):
            for name, value in zip(row.names, row.values, strict=True):
                other = theirs[name][i]
                kinds.add("null" if value is None else type(value).__name__)
                compared += 1
                if not _same(value, other):
                    differences.append((row.game_id, name, value, other))
    assert differences[:10] == []
    assert compared == len(ids) * len(native.layout.names)
    assert kinds == {"null", "float", "int"}


def test_feast_returns_nothing_for_a_game_it_was_never_given(feast_repo: FeastRepo) -> None:
    values = ops.online_features(feast_repo, ["20990101-XXX-YYY-0"], names=["home_elo", "ml_home_prob"])
    assert values["home_elo"] == [None] and values["ml_home_prob"] == [None]
