"""Raw storage, parsing from raw, re-parse, linking and status on the real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

from mlbedge import ingest
from mlbedge.sources.http import FetchResult, Request
from mlbedge.sources.matching import link_games
from mlbedge.sources.raw_store import Spool, fetch_ids, store_fetch
from mlbedge.storage.database import fetch_frame
from tests.sources.fixtures import action_network_payloads as an

SCHEDULE = "mlb_statsapi/schedule_2024-08-13_hydrate_person_probablePitcher_linescore.json"
FEED = "sbd/srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json"
DAY = datetime(2024, 8, 13, tzinfo=UTC)


def _fetch(
    source: str,
    endpoint: str,
    body: bytes | None,
    at: datetime,
    *,
    status: int | None = 200,
    params: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
    error: str | None = None,
) -> FetchResult:
    request = Request(source, endpoint, f"http://example.invalid/{endpoint}", params or {}, {}, context or {})
    return FetchResult(
        request, at, http_status=status, body=body, error=error, error_kind="http" if error else None
    )


def _store(conn: psycopg.Connection, *results: FetchResult) -> None:
    for result in results:
        store_fetch(conn, result)
    conn.commit()


def _snapshot(conn: psycopg.Connection, table: str, order: str) -> list[tuple]:
    return conn.execute(f"SELECT * FROM staging.{table} ORDER BY {order}").fetchall()


def test_identical_bodies_are_stored_once_and_every_fetch_time_survives(
    conn: psycopg.Connection, fixtures_dir: Path
) -> None:
    body = (fixtures_dir / FEED).read_bytes()
    first = _fetch("sbd", "betting_splits", body, DAY)
    second = _fetch("sbd", "betting_splits", body, DAY + timedelta(minutes=15))
    _store(conn, first, second, first)  # storing the same fetch twice is a no-op
    assert conn.execute("SELECT count(*) FROM raw.payload_bodies").fetchone() == (1,)
    rows = conn.execute(
        "SELECT fetched_at, content_hash, parse_status FROM raw.fetches ORDER BY fetched_at"
    ).fetchall()
    assert [r[0] for r in rows] == [DAY, DAY + timedelta(minutes=15)]
    assert rows[0][1] == rows[1][1] and {r[2] for r in rows} == {"pending"}
    stored = conn.execute("SELECT body FROM raw.payload_bodies").fetchone()
    assert stored is not None and bytes(stored[0]) == body


def test_parsing_reads_raw_and_a_second_parse_writes_nothing(
    conn: psycopg.Connection, fixtures_dir: Path
) -> None:
    at = datetime(2025, 6, 13, 21, 5, tzinfo=UTC)
    _store(conn, _fetch("sbd", "betting_splits", (fixtures_dir / FEED).read_bytes(), at))
    ids = fetch_ids(conn, pending_only=True)
    first = ingest.parse_stored(conn, ids)
    assert first.parsed == 1 and first.written["odds_quotes"] == 358 and first.written["splits"] == 90
    status = conn.execute("SELECT parse_status FROM raw.fetches").fetchone()
    assert status == ("parsed",) and fetch_ids(conn, pending_only=True) == []
    again = ingest.parse_stored(conn, ids)
    assert again.written.get("odds_quotes", 0) == 0 and again.written.get("splits", 0) == 0
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM staging.odds_quotes), (SELECT count(*) FROM staging.splits)"
    ).fetchone()
    assert counts == (358, 90)
    fetch_id = conn.execute("SELECT DISTINCT fetch_id FROM staging.splits").fetchall()
    assert fetch_id == [(ids[0],)]


def test_a_payload_that_does_not_parse_is_failed_and_quarantined(conn: psycopg.Connection) -> None:
    broken = b'{"games": [{"_id": "x", "date": "2025-06-13T18:2'
    _store(conn, _fetch("sbd", "betting_splits", broken, DAY))
    summary = ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    assert summary.failures == 1
    status, error = conn.execute("SELECT parse_status, parse_error FROM raw.fetches").fetchone()  # type: ignore[misc]
    assert status == "failed" and "invalid or truncated JSON" in error
    item = conn.execute("SELECT item_key, reason, raw_item FROM staging.payload_quarantine").fetchone()
    assert (
        item is not None and item[0] == "*" and "truncated JSON" in item[1] and item[2].startswith('{"games"')
    )


def test_partial_payload_loads_the_rest_and_quarantines_the_game(
    conn: psycopg.Connection, fixtures_dir: Path
) -> None:
    raw = json.loads((fixtures_dir / FEED).read_text())
    raw["games"][0]["away"]["code"] = "ZZZ"
    raw["games"][0]["away"]["city"] = "Atlantis"
    _store(conn, _fetch("sbd", "betting_splits", json.dumps(raw).encode(), DAY))
    summary = ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    assert summary.parsed == 1 and summary.quarantined == 1
    assert conn.execute("SELECT parse_status FROM raw.fetches").fetchone() == ("partial",)
    assert conn.execute("SELECT count(*) FROM staging.source_games").fetchone() == (14,)
    key, reason = conn.execute("SELECT item_key, reason FROM staging.payload_quarantine").fetchone()  # type: ignore[misc]
    assert key == "game 20250613.06-MLB-PIT@CHC" and "unknown name team code 'Atlantis Pirates'" in reason


def test_reparse_rederives_staging_from_raw_idempotently(
    conn: psycopg.Connection, fixtures_dir: Path
) -> None:
    at = datetime(2025, 6, 13, 21, 5, tzinfo=UTC)
    _store(
        conn,
        _fetch("sbd", "betting_splits", (fixtures_dir / FEED).read_bytes(), at),
        _fetch(
            "mlb_stats",
            "schedule",
            (fixtures_dir / SCHEDULE).read_bytes(),
            at,
            params={"hydrate": "probablePitcher"},
        ),
    )
    ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    conn.commit()
    before = {
        t: _snapshot(conn, t, "1, 2, 3, 4")
        for t in ("odds_quotes", "splits", "schedule", "probable_pitchers")
    }
    # A parser bug wrote wrong prices and lost rows: the re-parse puts back what raw says.
    conn.execute("UPDATE staging.odds_quotes SET price = 999 WHERE book = 'draftkings'")
    conn.execute("DELETE FROM staging.splits WHERE market = 'total'")
    conn.commit()
    report = ingest.reparse(conn, since=date(2025, 6, 13))
    assert report.fetches == 2 and report.parsed == 2
    after = {t: _snapshot(conn, t, "1, 2, 3, 4") for t in before}
    assert after == before
    ingest.reparse(conn, since=date(2025, 6, 13))
    assert {t: _snapshot(conn, t, "1, 2, 3, 4") for t in before} == before
    # Fetches before --since are left alone.
    assert ingest.reparse(conn, since=date(2025, 6, 14)).fetches == 0


def _schedule_and_vsin(
    conn: psycopg.Connection, fixtures_dir: Path, local_fixtures: Path, vsin_at: datetime
) -> None:
    raw = json.loads((fixtures_dir / SCHEDULE).read_text())
    for block in raw["dates"]:  # as listed in the morning, before any game
        for game in block["games"]:
            game["status"] = {
                "abstractGameState": "Preview",
                "codedGameState": "S",
                "detailedState": "Scheduled",
            }
    _store(
        conn,
        _fetch(
            "mlb_stats",
            "schedule",
            json.dumps(raw).encode(),
            DAY + timedelta(hours=14),
            params={"hydrate": "probablePitcher"},
        ),
        _fetch(
            "vsin",
            "splits",
            (local_fixtures / "vsin_current_sp_table.html").read_bytes(),
            vsin_at,
            params={"source": "DK"},
        ),
        _fetch(
            "vsin",
            "splits",
            (local_fixtures / "vsin_legacy_freezetable.html").read_bytes(),
            vsin_at,
            params={"source": "DK"},
        ),
    )
    ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    link_games(conn)
    conn.commit()


def test_vsin_games_link_by_code_date_and_order(
    conn: psycopg.Connection, fixtures_dir: Path, local_fixtures: Path
) -> None:
    _schedule_and_vsin(conn, fixtures_dir, local_fixtures, DAY + timedelta(hours=20))
    links = dict(
        conn.execute(
            "SELECT source_game_key, game_pk FROM staging.source_games WHERE source = 'vsin'"
        ).fetchall()
    )
    assert links == {
        "20240813MLB00001": 747004,
        "20240813MLB00015": 745302,  # dated by its code, not its "August 14" block header
        "20240813MLB00010": 746757,
        "20240813MLB00012": 746187,
    }
    unlinked = conn.execute("SELECT count(*) FROM staging.odds_quotes WHERE game_pk IS NULL").fetchone()
    assert unlinked == (0,)


def test_vsin_splits_observed_after_first_pitch_are_in_play_once_linked(
    conn: psycopg.Connection, fixtures_dir: Path, local_fixtures: Path
) -> None:
    """Rule: VSIN has no first pitch and no update time; a page fetched at 23:00Z holds in-game
    numbers for every game that began by then. Once linked, rows observed at or after the MLB
    first pitch are ``in_play``, and the pre-game views leave them out."""
    fetched = DAY + timedelta(hours=23)
    _schedule_and_vsin(conn, fixtures_dir, local_fixtures, fetched)
    splits = (
        fetch_frame(conn, "SELECT s.game_pk, s.in_play FROM staging.splits s WHERE s.source = 'vsin'")
        .group_by("game_pk")
        .agg(pl.col("in_play").all().alias("all_in_play"), pl.col("in_play").any().alias("any"))
    )
    state = {r[0]: (r[1], r[2]) for r in splits.rows()}
    assert state[747004] == (True, True)  # 22:35Z first pitch (and marked final)
    assert state[745302] == (False, False)  # 01:45Z next day
    assert state[746757] == (False, False)  # 00:10Z next day
    pregame = conn.execute(
        "SELECT DISTINCT game_pk FROM staging.pregame_splits WHERE source = 'vsin'"
    ).fetchall()
    assert sorted(p[0] for p in pregame) == [745302, 746187, 746757]


def test_action_network_events_link_and_history_after_first_pitch_stays_out_of_pregame(
    conn: psycopg.Connection, fixtures_dir: Path, an_teams: dict
) -> None:
    """Rule: prices observed at or after first pitch are never pre-game quotes, in staging and
    in the ``pregame_odds_quotes`` view features read."""
    _schedule_and_vsin(conn, fixtures_dir, Path(__file__).parent / "fixtures", DAY + timedelta(hours=12))
    slate = e2e_slate(fixtures_dir)
    fetched = DAY + timedelta(hours=22, minutes=37)
    _store(
        conn,
        _fetch(
            "action_network",
            "scoreboard",
            json.dumps(an.scoreboard(slate, an_teams)).encode(),
            fetched,
            params={"date": "20240813"},
        ),
        _fetch(
            "action_network",
            "history",
            json.dumps(an.history(slate[0])).encode(),
            fetched,
            context={
                "event_id": slate[0].event_id,
                "start_time": slate[0].start_time.isoformat(),
                "away_team_id": 120,
                "home_team_id": 110,
            },
        ),
    )
    ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    link_games(conn)
    conn.commit()
    links = dict(
        conn.execute(
            "SELECT source_game_key, game_pk FROM staging.source_games WHERE source = 'action_network'"
        ).fetchall()
    )
    assert links == {str(g.event_id): pk for g, pk in zip(slate, E2E_PKS, strict=True)}
    leaked = conn.execute(
        "SELECT count(*) FROM staging.pregame_odds_quotes q JOIN staging.schedule s USING (game_pk) "
        "WHERE q.observed_at >= s.game_date AND NOT q.is_opening"
    ).fetchone()
    assert leaked == (0,)
    history_after = conn.execute(
        "SELECT count(*), bool_and(in_play) FROM staging.odds_quotes "
        "WHERE source_game_key = %s AND observed_at >= %s AND NOT is_opening",
        (str(slate[0].event_id), slate[0].start_time),
    ).fetchone()
    assert history_after is not None and history_after[0] > 0 and history_after[1] is True


def test_status_reports_last_success_counts_and_errors(
    conn: psycopg.Connection, settings: Any, fixtures_dir: Path
) -> None:
    ok_at = datetime.now(UTC) - timedelta(hours=1)
    _store(
        conn,
        _fetch("sbd", "betting_splits", (fixtures_dir / FEED).read_bytes(), ok_at),
        _fetch(
            "vsin",
            "splits",
            b"<h1>denied</h1>",
            ok_at + timedelta(minutes=5),
            status=403,
            error="the source blocked the request (HTTP 403 Forbidden)",
        ),
    )
    ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    Spool(settings.home / "spool").put(_fetch("sbd", "mlb_odds", b"{}", ok_at))
    report = ingest.status(conn, settings)
    by = {s.source: s for s in report.sources}
    assert by["sbd"].last_success == ok_at and by["sbd"].fetches == 1 and by["sbd"].splits == 90
    assert by["sbd"].games == 15 and by["sbd"].unmatched_games == 15  # no schedule loaded
    assert by["vsin"].last_success is None and by["vsin"].errors_24h == 1
    assert "blocked" in (by["vsin"].last_error or "")
    assert by["mlb_stats"].fetches == 0 and report.spooled == 1 and report.pending_parse == 0


# The end-to-end slate: the real MLB 2024-08-13 schedule as AN would list it.
E2E_PKS = [
    747004,
    746601,
    746435,
    746673,
    745548,
    745055,
    745788,
    746924,
    745867,
    746757,
    745954,
    746187,
    747160,
    745382,
    745302,
]


def e2e_slate(fixtures_dir: Path, now: datetime | None = None) -> list[an.SlateGame]:
    """AN games for the real 2024-08-13 MLB schedule (AN ids via the team crosswalk)."""
    from mlbedge.domain.teams import by_mlb_id

    raw = json.loads((fixtures_dir / SCHEDULE).read_text())
    slate = []
    for k, game in enumerate(raw["dates"][0]["games"]):
        start = datetime.fromisoformat(game["gameDate"]).astimezone(UTC)
        status = "inprogress" if now is not None and start <= now else "scheduled"
        away = by_mlb_id(game["teams"]["away"]["team"]["id"]).action_network_id
        home = by_mlb_id(game["teams"]["home"]["team"]["id"]).action_network_id
        slate.append(an.SlateGame(300000 + k, start, status, away, home))
    assert [g["gamePk"] for g in raw["dates"][0]["games"]] == E2E_PKS
    return slate


def test_spool_round_trip_and_an_unreadable_file_does_not_block_the_rest(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    kept = _fetch("vsin", "splits", b"<html></html>", DAY, params={"source": "DK"}, context={"k": 1})
    failed = _fetch("sbd", "mlb_odds", None, DAY, status=None, error="timed out after 2 attempt(s)")
    spool.put(kept)
    spool.put(failed)
    (spool.folder / "garbage.json").write_text("{not json")
    assert len(spool) == 3
    stored = spool.flush(conn)
    assert sorted(map(str, stored)) == sorted([str(kept.fetch_id), str(failed.fetch_id)])
    assert len(spool) == 0 and (spool.folder / "unreadable" / "garbage.json").exists()
    rows = conn.execute(
        "SELECT source, params, context, http_status, fetch_error, parse_status FROM raw.fetches ORDER BY source"
    ).fetchall()
    assert rows == [
        ("sbd", {}, {}, None, "timed out after 2 attempt(s)", "skipped"),
        ("vsin", {"source": "DK"}, {"k": 1}, 200, None, "pending"),
    ]
    assert spool.flush(conn) == []  # nothing left, and flushing twice adds nothing


def test_poll_interval_and_source_names_are_validated() -> None:
    assert ingest.parse_every("15m") == timedelta(minutes=15)
    assert ingest.parse_every("1h30m") == timedelta(minutes=90)
    assert ingest.parse_every("90s") == timedelta(seconds=90)
    assert ingest.parse_every("5") == timedelta(minutes=5)
    for bad in ("soon", "15x", "0m", ""):
        with pytest.raises(ValueError):
            ingest.parse_every(bad)
    assert ingest.parse_sources("sbd, mlb_stats") == ["mlb_stats", "sbd"]
    assert ingest.parse_sources(None) == list(ingest.SOURCES)
    with pytest.raises(ValueError, match="unknown source"):
        ingest.parse_sources("espn")
