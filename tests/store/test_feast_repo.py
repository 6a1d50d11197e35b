"""The Feast repository generator (pure text; runs in the main venv, where Feast is not installed)."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from mlbedge.features.registry import Family, registry
from mlbedge.store.feast import feast_connection_string, generate_repo
from mlbedge.store.feast import ops as feast_ops
from mlbedge.store.feast.repo import FEAST_TYPES, feature_refs, view_name


def test_the_repo_has_one_view_per_family_holding_every_registry_feature_once(tmp_path: Path) -> None:
    repo = generate_repo(
        tmp_path / "feast", redis_url="redis://127.0.0.1:6379/0", feature_set_version="fs-x", project="p_1"
    )
    source = repo.definitions_path.read_text()
    tree = ast.parse(source)  # valid Python
    fields = re.findall(r"Field\(name='([^']+)', dtype=(\w+)\)", source)
    assert [name for name, _ in fields] == registry().names  # every feature, once, in registry order
    assert all(dtype == FEAST_TYPES[registry().get(name).dtype] for name, dtype in fields)
    views = re.findall(r"^(game_\w+) = FeatureView\(", source, flags=re.M)
    assert views == [view_name(f) for f in Family if registry().family(f)]
    assert 'join_keys=["game_id"]' in source and 'timestamp_field="as_of"' in source
    assert repr(str(repo.parquet_path)) in source and "fs-x" in source
    assert any(isinstance(n, ast.Assign) and n.targets[0].id == "OBJECTS" for n in tree.body)  # type: ignore[attr-defined]
    yaml = repo.yaml_path.read_text()
    assert "project: p_1\n" in yaml and 'connection_string: "127.0.0.1:6379,db=0"' in yaml
    assert f"registry: {repo.registry_path}\n" in yaml and "key_ttl_seconds" not in yaml
    with_ttl = generate_repo(
        tmp_path / "ttl", redis_url="redis://h:1/0", feature_set_version="v", ttl_seconds=3600
    )
    assert "key_ttl_seconds: 3600" in with_ttl.yaml_path.read_text()


def test_feature_refs_name_each_features_view() -> None:
    refs = feature_refs()
    assert len(refs) == len(registry())
    assert refs[0] == f"{view_name(registry().features[0].family)}:{registry().names[0]}"
    assert feature_refs(["home_elo"]) == [f"{view_name(registry().get('home_elo').family)}:home_elo"]


def test_redis_urls_become_feast_connection_strings() -> None:
    assert feast_connection_string("redis://127.0.0.1:6379/0") == "127.0.0.1:6379,db=0"
    assert feast_connection_string("redis://localhost") == "localhost:6379,db=0"
    assert feast_connection_string("redis://:s3cret@cache:6380/2") == "cache:6380,db=2,password=s3cret"
    assert (
        feast_connection_string("rediss://bob:pw@cache:6390/1")
        == "cache:6390,db=1,password=pw,username=bob,ssl=true"
    )
    with pytest.raises(ValueError, match="TCP"):
        feast_connection_string("unix:///tmp/redis.socket")


def test_bad_project_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        generate_repo(tmp_path, redis_url="redis://h:1/0", feature_set_version="v", project="my-project")


def test_require_feast_says_how_to_install_it_where_it_is_missing() -> None:
    if importlib.util.find_spec("feast") is None:
        with pytest.raises(feast_ops.FeastNotInstalledError, match=r"pip install 'mlbedge\[feast\]'"):
            feast_ops.require_feast()
    else:
        assert feast_ops.require_feast().__name__ == "feast"
