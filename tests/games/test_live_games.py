"""Live MLB Stats API snapshots become game records with a gamePk, starters as of the cutoff.

The pre-game schedules here are built from the REAL recorded 2024-08-13 schedule: the same games,
teams, times and probable pitchers, with the status set back to "Scheduled" and the outcome
fields (score, isWinner, linescore) removed, as the API shows a game before it starts.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from mlbedge import ingest
from mlbedge.games.link import rebuild_games
from mlbedge.sources.raw_store import fetch_ids
from mlbedge.storage.database import fetch_frame
from tests.sources.test_ingest_db import SCHEDULE, _fetch, _store

MORNING = datetime(2024, 8, 13, 12, 0, tzinfo=UTC)
NEXT_DAY = datetime(2024, 8, 14, 9, 0, tzinfo=UTC)
GAME_PK = 747004  # the first game of the recording, first pitch 22:35Z


def _pregame(real: dict) -> dict:
    body = copy.deepcopy(real)
    for day in body["dates"]:
        for game in day["games"]:
            game["status"] = {"abstractGameState": "Preview", "codedGameState": "S",
                              "detailedState": "Scheduled", "statusCode": "S", "startTimeTBD": False}  # fmt: skip
            game.pop("linescore", None)
            game.pop("isTie", None)
            for side in ("home", "away"):
                for label in ("score", "isWinner", "leagueRecord"):
                    game["teams"][side].pop(label, None)
    return body


def _ingest(conn: psycopg.Connection, body: dict, at: datetime) -> None:
    params = {"hydrate": "probablePitcher,linescore"}
    _store(conn, _fetch("mlb_stats", "schedule", json.dumps(body).encode(), at, params=params))
    ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    conn.commit()


def test_live_games_get_game_pk_labels_and_the_starters_listed_before_the_cutoff(
    conn: psycopg.Connection, fixtures_dir: Path
) -> None:
    real = json.loads((fixtures_dir / SCHEDULE).read_text())
    first = real["dates"][0]["games"][0]
    assert first["gamePk"] == GAME_PK
    listed = first["teams"]["home"]["probablePitcher"]["fullName"]
    first_pitch = datetime(2024, 8, 13, 22, 35, tzinfo=UTC)

    _ingest(conn, _pregame(real), MORNING)
    # A late change of the listed starter 30 minutes before first pitch: after the 60-minute cutoff.
    late = _pregame(real)
    late["dates"][0]["games"][0]["teams"]["home"]["probablePitcher"]["fullName"] = "Late Replacement"
    _ingest(conn, late, first_pitch - timedelta(minutes=30))
    _ingest(conn, real, NEXT_DAY)  # the final scores, fetched after the games: labels

    report = rebuild_games(conn, cutoff_minutes=60)
    conn.commit()
    games = fetch_frame(conn, "SELECT * FROM curated.games ORDER BY game_id")
    assert games.height == 15 and games["game_pk"].n_unique() == 15
    assert [s.live for s in report.seasons] == [15]
    row = games.filter(games["game_pk"] == GAME_PK).row(0, named=True)
    assert row["home_starter"] == listed  # not the replacement listed after the cutoff
    assert row["home_starter_hand"] == "L"
    assert row["start_time_utc"] == first_pitch
    assert row["home_score"] == first["teams"]["home"]["score"]
    assert row["game_id"].startswith("20240813-") and row["game_type"] == "R"

    # With no cutoff at all the late listing is the newest pre-game one: the rule is what decides.
    rebuild_games(conn, cutoff_minutes=0)
    again = fetch_frame(conn, "SELECT home_starter FROM curated.games WHERE game_pk = %s", (GAME_PK,))
    assert again.item() == "Late Replacement"
