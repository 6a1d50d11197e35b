"""``mlbedge ingest backfill --season Y``: the season's results from the MLB schedule with scores,
stored raw first, parsed into ``staging.results`` and linked into ``curated.games``.

The loopback server answers the REAL recorded 2024-08-13 schedule (15 finished games, scores and
probable pitchers hydrated) for any range holding that day, and an empty schedule otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge import ingest
from mlbedge.cli.main import app
from mlbedge.settings import Settings, get_settings
from mlbedge.storage.database import fetch_frame
from tests.sources.server import FixtureServer, Reply, json_reply

SCHEDULE = "mlb_statsapi/schedule_2024-08-13_hydrate_person_probablePitcher_linescore.json"
RECORDED = date(2024, 8, 13)
NOW = "2024-08-20T15:00:00Z"  # a week later: every day through the 19th is over
EMPTY = b'{"copyright": "", "totalGames": 0, "dates": []}'


@pytest.fixture
def mlb(settings: Settings, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FixtureServer]:
    body = (fixtures_dir / SCHEDULE).read_bytes()

    def schedule(path: str, q: dict[str, str]) -> Reply:
        start, end = date.fromisoformat(q["startDate"]), date.fromisoformat(q["endDate"])
        return json_reply(body if start <= RECORDED <= end else EMPTY)

    server = FixtureServer()
    server.route(r"/mlb/api/v1/schedule", schedule)
    server.start()
    monkeypatch.setenv("MLBEDGE_MLB_STATS_BASE_URL", f"{server.url}/mlb")
    monkeypatch.setenv("MLBEDGE_MLB_STATS_MIN_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("MLBEDGE_HTTP_MAX_RETRIES", "0")
    get_settings.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        get_settings.cache_clear()


def _ranges(server: FixtureServer) -> list[tuple[str, str]]:
    return [(h.query["startDate"], h.query["endDate"]) for h in server.hits_for(r"/schedule")]


def test_backfill_stores_parses_and_links_the_season_and_asks_each_day_once(
    mlb: FixtureServer, settings: Settings
) -> None:
    runner = CliRunner()
    home = str(settings.home)
    done = runner.invoke(app, ["ingest", "backfill", "--season", "2024", "--now", NOW, "--home", home])
    assert done.exit_code == 0, done.output
    # 2024-03-15 .. 2024-08-19 in runs of at most 31 days, each asked once, none overlapping.
    asked = _ranges(mlb)
    assert asked[0] == ("2024-03-15", "2024-04-14") and asked[-1] == ("2024-08-17", "2024-08-19")
    assert len(asked) == 6
    assert all(date.fromisoformat(b) < date.fromisoformat(a) for (_, b), (a, _) in itertools.pairwise(asked))
    assert "final games stored 15" in " ".join(done.output.split())

    with psycopg.connect(str(settings.database_url)) as conn:
        raw = fetch_frame(
            conn,
            "SELECT count(*) AS n, min(fetched_at) AS first FROM raw.fetches "
            "WHERE source = 'mlb_stats' AND endpoint = 'schedule'",
        ).row(0, named=True)
        assert raw["n"] == 6 and raw["first"] >= datetime(2024, 8, 20, 15, tzinfo=UTC)
        results = fetch_frame(conn, "SELECT * FROM staging.results WHERE is_final")
        games = fetch_frame(conn, "SELECT * FROM curated.games WHERE date = %s ORDER BY game_pk", (RECORDED,))
    assert results.height == 15
    assert games.height == 15 and games["home_score"].null_count() == 0
    # No pre-game listing was ever seen: the starters are who pitched, flagged as such.
    assert games["home_starter"].null_count() == 0
    assert games["flags"].str.contains("starters_after_game").all()

    # Covered days are not asked again; --refetch asks again.
    again = runner.invoke(app, ["ingest", "backfill", "--season", "2024", "--now", NOW, "--home", home])
    assert again.exit_code == 0, again.output
    assert len(_ranges(mlb)) == 6
    forced = runner.invoke(
        app, ["ingest", "backfill", "--season", "2024", "--now", NOW, "--refetch", "--home", home]
    )
    assert forced.exit_code == 0 and len(_ranges(mlb)) == 12


def test_days_fetched_before_they_were_over_are_not_covered(
    conn: psycopg.Connection, mlb: FixtureServer
) -> None:
    """A schedule fetched on the evening of a day does not hold that day's finals."""
    settings = get_settings()
    evening = datetime(2024, 8, 13, 23, 0, tzinfo=UTC)
    ingest.backfill(settings, season=2024, through=RECORDED, now=evening)
    covered = ingest.covered_days(conn, date(2024, 8, 10), RECORDED)
    assert date(2024, 8, 12) in covered and RECORDED not in covered
    assert ingest.backfill_ranges(conn, date(2024, 8, 10), RECORDED, 31) == [(RECORDED, RECORDED)]
