"""Fixtures for the live-source tests: a local HTTP server, AN team objects, fetch metadata."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mlbedge.sources.snapshots import FetchMeta
from tests.sources.fixtures import action_network_payloads as an
from tests.sources.server import FixtureServer

LOCAL_FIXTURES = Path(__file__).parent / "fixtures"


def make_meta(
    source: str,
    endpoint: str,
    fetched_at: datetime,
    params: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> FetchMeta:
    """The metadata of a fetch made at ``fetched_at`` (what the parsers read besides the body)."""
    return FetchMeta(uuid.uuid4(), source, endpoint, fetched_at, "", dict(params or {}), dict(context or {}))


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    srv = FixtureServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def an_teams(fixtures_dir: Path) -> dict[int, dict[str, Any]]:
    return an.read_teams(fixtures_dir)


@pytest.fixture(scope="session")
def local_fixtures() -> Path:
    return LOCAL_FIXTURES
