"""End to end: the fixtures served over HTTP on 127.0.0.1 (with a 429, a 403 and a timeout),
``ingest run`` into the real PostgreSQL, then the CLI, then a poll that loses the database."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge import ingest
from mlbedge.settings import Settings, get_settings
from tests.conftest import ADMIN_URL
from tests.sources.fixtures import action_network_payloads as an
from tests.sources.server import FixtureServer, Reply, html_reply, json_reply, slow
from tests.sources.test_ingest_db import E2E_PKS, e2e_slate

HYDRATED = "mlb_statsapi/schedule_2024-08-13_hydrate_person_probablePitcher_linescore.json"
PLAIN = "mlb_statsapi/schedule_2024-07-01.json"
CLOCK_START = datetime(2024, 8, 13, 22, 37, tzinfo=UTC)  # two minutes after the first first pitch
EMPTY_SCHEDULE = b'{"copyright": "", "totalItems": 0, "totalGames": 0, "dates": []}'


class Clock:
    """The wall clock moved to ``start``: fetches are stamped as if made that evening."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


class Sources:
    """The routes of the fixture server, with the faults the tests script."""

    def __init__(self, server: FixtureServer, fixtures_dir: Path, local: Path, teams: dict[int, Any]) -> None:
        self.server = server
        self.slate = {g.event_id: g for g in e2e_slate(fixtures_dir, now=CLOCK_START)}
        self.board = json.dumps(an.scoreboard(list(self.slate.values()), teams)).encode()
        self.files = {
            name: (fixtures_dir / path).read_bytes()
            for name, path in {
                "hydrated": HYDRATED,
                "plain": PLAIN,
                "standings": "mlb_statsapi/standings_2024_regularSeason.json",
                "teams": "mlb_statsapi/teams_sportId1.json",
                "feed": "mlb_statsapi/feed_live_744914_2024-07-01.json",
                "sbd_feed": "sbd/srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json",
            }.items()
        }
        widget = json.loads(
            (
                fixtures_dir / "sbd/wp-json_adpt_v1_mlb-odds_2026-09-27T14-06-46Z_trimmed_1game.json"
            ).read_text()
        )
        self.files["widget"] = json.dumps(widget[0]["body"]).encode()  # the HTTP body inside the capture
        self.vsin = {
            "today": (local / "vsin_current_sp_table.html").read_bytes(),
            "tomorrow": (local / "vsin_legacy_freezetable.html").read_bytes(),
        }
        self.history_429_left = 1
        self.down: set[str] = set()  # route names answering 503
        self.on_schedule: Callable[[], None] | None = None
        self._lock = threading.Lock()
        s = server
        s.route(r"/mlb/api/v1/schedule", self.schedule)
        s.route(r"/mlb/api/v1/standings", lambda p, q: json_reply(self.files["standings"]))
        s.route(r"/mlb/api/v1/teams", lambda p, q: json_reply(self.files["teams"]))
        s.route(r"/mlb/api/v1\.1/game/744914/feed/live", lambda p, q: json_reply(self.files["feed"]))
        s.route(r"/an/web/v2/scoreboard/mlb", self.scoreboard)
        s.route(r"/an/web/v2/markets/event/(\d+)/history", self.history)
        s.route(r"/vsin/betting-splits/", self.vsin_page)
        s.route(r"/sbd/wp-json/adpt/v1/mlb-odds", slow(json_reply(self.files["widget"]), 1.2))
        s.route(r"/srfeeds/v2/matchups/mlb/betting-splits", self.sbd_feed)

    def schedule(self, path: str, q: dict[str, str]) -> Reply:
        if self.on_schedule is not None:
            self.on_schedule()
        start, end = q.get("startDate", ""), q.get("endDate", "")
        for day, name in (("2024-08-13", "hydrated"), ("2024-07-01", "plain")):
            if start <= day <= end:
                return json_reply(self.files[name])
        return json_reply(EMPTY_SCHEDULE)

    def scoreboard(self, path: str, q: dict[str, str]) -> Reply:
        if q.get("date") == "20240813":
            return json_reply(self.board)
        return json_reply(b'{"league": {"name": "mlb"}, "games": []}')

    def history(self, path: str, q: dict[str, str]) -> Reply:
        with self._lock:
            if self.history_429_left:
                self.history_429_left -= 1
                return json_reply(b'{"error": "rate limited"}', 429, **{"Retry-After": "0"})
        match = re.search(r"/event/(\d+)/", path)
        game = self.slate.get(int(match.group(1))) if match else None
        return json_reply(json.dumps(an.history(game)).encode()) if game else json_reply(b"{}", 404)

    def vsin_page(self, path: str, q: dict[str, str]) -> Reply:
        if q.get("source") == "CIRCA":
            return 403, {"Content-Type": "text/html"}, b"<html><body>Access denied</body></html>"
        return html_reply(self.vsin[q.get("view", "today")])

    def sbd_feed(self, path: str, q: dict[str, str]) -> Reply:
        if "sbd_feed" in self.down:
            return json_reply(b"upstream error", 503)
        return json_reply(self.files["sbd_feed"])


@pytest.fixture
def live(
    server: FixtureServer,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    fixtures_dir: Path,
    local_fixtures: Path,
    an_teams: dict,
) -> tuple[Settings, Sources]:
    """Settings pointing every source at the local server, with quick timeouts and backoffs."""
    sources = Sources(server, fixtures_dir, local_fixtures, an_teams)
    env = {
        "MLB_STATS_BASE_URL": f"{server.url}/mlb",
        "ACTION_NETWORK_BASE_URL": f"{server.url}/an",
        "VSIN_BASE_URL": f"{server.url}/vsin",
        "SBD_BASE_URL": f"{server.url}/sbd",
        "SBD_FEEDS_BASE_URL": f"{server.url}/srfeeds",
        "HTTP_TIMEOUT_SECONDS": "0.5",
        "HTTP_MAX_RETRIES": "1",
        "HTTP_BACKOFF_SECONDS": "0.01",
        "HTTP_BACKOFF_MAX_SECONDS": "0.2",
        "MLB_STATS_MIN_INTERVAL_SECONDS": "0.02",
        "ACTION_NETWORK_MIN_INTERVAL_SECONDS": "0.02",
        "VSIN_MIN_INTERVAL_SECONDS": "0.02",
        "SBD_MIN_INTERVAL_SECONDS": "0.02",
        "MLB_BACKFILL_AUTO": "false",  # the season's backfill has its own tests (test_backfill.py)
    }
    for key, value in env.items():
        monkeypatch.setenv(f"MLBEDGE_{key}", value)
    get_settings.cache_clear()
    return get_settings(), sources


def _one(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_ingest_run_end_to_end(live: tuple[Settings, Sources], db_url: str) -> None:
    settings, sources = live
    clock = Clock(CLOCK_START)
    report = ingest.run(settings, day=date(2024, 8, 13), clock=clock)

    # Per source: what was asked and what went wrong, without stopping the others.
    by = report.sources
    assert (by["mlb_stats"].requests, by["mlb_stats"].ok) == (3, 3)  # schedule, standings, teams
    assert (by["action_network"].requests, by["action_network"].ok) == (2, 2)  # board + 1 started game
    assert by["vsin"].requests == 3 and by["vsin"].ok == 2 and by["vsin"].blocked  # CIRCA 403 stops VSIN
    assert any("blocked the request (HTTP 403" in e for e in by["vsin"].errors)
    assert (by["sbd"].requests, by["sbd"].ok) == (2, 1) and "timed out" in by["sbd"].errors[0]
    # Ten requests, and the two attempts retried on the way (the history 429, the first SBD timeout).
    assert report.database_ok and report.stored == 12 and report.spooled == 0
    assert report.parsed == 8 and report.parse_failures == 0

    with psycopg.connect(db_url) as conn:
        # Raw first: every attempt made is a row, failures and retried attempts included.
        assert _one(conn, "SELECT count(*) FROM raw.fetches") == 12
        attempts = conn.execute(
            "SELECT endpoint, http_status, attempts FROM raw.fetches WHERE endpoint IN ('history', 'mlb_odds') "
            "ORDER BY endpoint, attempts"
        ).fetchall()
        assert attempts == [
            ("history", 429, 1),
            ("history", 200, 2),
            ("mlb_odds", None, 1),
            ("mlb_odds", None, 2),
        ]
        blocked = _one(
            conn,
            "SELECT http_status, fetch_error, parse_status, content_hash IS NOT NULL FROM raw.fetches WHERE params->>'source' = 'CIRCA'",
        )
        assert blocked[0] == 403 and "blocked" in blocked[1] and blocked[2] == "skipped" and blocked[3]
        timeout = _one(
            conn,
            "SELECT http_status, fetch_error, attempts, content_hash FROM raw.fetches WHERE endpoint = 'mlb_odds' "
            "ORDER BY attempts DESC",
        )
        assert timeout[0] is None and "timed out" in timeout[1] and timeout[2] == 2 and timeout[3] is None
        history = _one(
            conn,
            "SELECT http_status, attempts, context->>'event_id' FROM raw.fetches WHERE endpoint = 'history' "
            "AND http_status = 200",
        )
        assert history == (200, 2, "300000")  # 429 first, then success
        assert len(sources.server.hits_for(r"/history$")) == 2
        board_at = _one(conn, "SELECT fetched_at FROM raw.fetches WHERE endpoint = 'scoreboard'")
        assert CLOCK_START <= board_at < CLOCK_START + timedelta(minutes=1)

        # Staging snapshots with the right observed_at.
        board_times = conn.execute(
            "SELECT DISTINCT q.observed_at FROM staging.odds_quotes q JOIN raw.fetches f USING (fetch_id) "
            "WHERE f.endpoint = 'scoreboard'"
        ).fetchall()
        assert board_times == [(board_at,)]  # scoreboard prices: the fetch time
        first = sources.slate[300000]
        history_times = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT q.observed_at FROM staging.odds_quotes q JOIN raw.fetches f USING (fetch_id) "
                "WHERE f.endpoint = 'history'"
            ).fetchall()
        }
        expected = {first.start_time + timedelta(minutes=m) for m in an.HISTORY_OFFSETS if m < 0}
        # updated_at, never later than the fetch: entries stamped after it are held at the fetch time.
        history_fetched = _one(
            conn, "SELECT fetched_at FROM raw.fetches WHERE endpoint = 'history' AND http_status = 200"
        )
        assert history_times == expected | {history_fetched}
        schedule_at = _one(conn, "SELECT fetched_at FROM raw.fetches WHERE endpoint = 'schedule'")
        assert _one(conn, "SELECT count(*), min(observed_at), max(observed_at) FROM staging.schedule") == (
            15,
            schedule_at,
            schedule_at,
        )
        assert _one(conn, "SELECT count(*) FROM staging.standings") == 30
        splits_ok = _one(
            conn,
            "SELECT bool_and(s.observed_at <= f.fetched_at) FROM staging.splits s JOIN raw.fetches f USING (fetch_id)",
        )
        assert splits_ok is True

        # Game links: every AN and VSIN game has its gamePk; SBD's other-day games are reported.
        links = dict(
            conn.execute(
                "SELECT source_game_key, game_pk FROM staging.source_games WHERE source = 'action_network'"
            ).fetchall()
        )
        assert links == {str(300000 + k): pk for k, pk in enumerate(E2E_PKS)}
        vsin_links = dict(
            conn.execute(
                "SELECT source_game_key, game_pk FROM staging.source_games WHERE source = 'vsin'"
            ).fetchall()
        )
        assert vsin_links == {
            "20240813MLB00001": 747004,
            "20240813MLB00015": 745302,
            "20240813MLB00010": 746757,
            "20240813MLB00012": 746187,
        }
        assert (
            _one(
                conn,
                "SELECT count(*) FROM staging.odds_quotes WHERE source IN ('action_network', 'vsin') AND game_pk IS NULL",
            )
            == 0
        )
        sbd_rows = _one(conn, "SELECT count(*), count(game_pk) FROM staging.odds_quotes WHERE source = 'sbd'")
        assert sbd_rows[0] > 0 and sbd_rows[1] == 0  # kept, not dropped, though unmatched
        assert {u.source for u in report.unmatched} == {"sbd"} and len(report.unmatched) == 15
        assert report.matched == 19
        # Leakage: the game under way at fetch time gives no pre-game quote but its opening line.
        live_game = conn.execute(
            "SELECT is_opening, bool_and(in_play) FROM staging.odds_quotes WHERE game_pk = 747004 "
            "AND source = 'action_network' AND observed_at >= %s GROUP BY is_opening ORDER BY is_opening",
            (first.start_time,),
        ).fetchall()
        assert live_game == [(False, True), (True, False)]
        bodies = _one(conn, "SELECT count(*) FROM raw.payload_bodies")

    # A second pass: same bodies are not stored again, every fetch time is; no second history.
    again = ingest.run(settings, day=date(2024, 8, 13), clock=clock)
    assert again.sources["action_network"].requests == 1
    with psycopg.connect(db_url) as conn:
        assert _one(conn, "SELECT count(*) FROM raw.fetches") == 22  # 9 requests + 1 retried attempt more
        assert _one(conn, "SELECT count(*) FROM raw.payload_bodies") == bodies
        assert _one(conn, "SELECT count(DISTINCT observed_at) FROM staging.schedule") == 2


def test_ingest_cli_run_reparse_and_status(live: tuple[Settings, Sources], db_url: str) -> None:
    from mlbedge.cli.main import app

    settings, _ = live
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    result = runner.invoke(
        app, ["ingest", "run", "--date", "2024-07-02", "--sources", "mlb_stats,sbd", *home]
    )
    assert result.exit_code == 0, result.output
    assert "Ingest pass for 2024-07-02" in result.output and "mlb_stats" in result.output
    with psycopg.connect(db_url) as conn:
        # Yesterday's (2024-07-01) finished games get their live feed: one exists, two are 404s.
        feeds = conn.execute(
            "SELECT http_status, count(*) FROM raw.fetches WHERE endpoint = 'feed_live' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert feeds == [(200, 1), (404, 2)]
        result_row = _one(
            conn,
            "SELECT away_score, home_score, away_starter_id, observed_at FROM staging.results WHERE origin = 'feed_live'",
        )
        assert result_row == (3, 1, 686613, datetime(2024, 7, 1, 21, 44, 4, tzinfo=UTC))  # metaData.timeStamp
        assert (
            _one(conn, "SELECT count(*) FROM raw.fetches WHERE source = 'sbd'") == 3
        )  # a timeout retried once
    result = runner.invoke(app, ["ingest", "reparse", "--since", "2020-01-01", *home])
    assert result.exit_code == 0, result.output
    assert re.search(r"re-parsed (\d+)/\1 fetches", result.output)
    result = runner.invoke(app, ["ingest", "status", *home])
    assert result.exit_code == 0, result.output
    assert "mlb_stats" in result.output and "action_network" in result.output and "never" in result.output
    result = runner.invoke(
        app, ["ingest", "poll", "--every", "0.05s", "--cycles", "2", "--sources", "mlb_stats", *home]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("pass for") == 2 and "polling mlb_stats every 0:00:00.050000" in result.output
    bad = runner.invoke(app, ["ingest", "poll", "--every", "soon", *home])
    assert bad.exit_code == 1 and "not an interval" in bad.output
    bad = runner.invoke(app, ["ingest", "run", "--sources", "espn", *home])
    assert bad.exit_code == 1 and "unknown source(s) espn" in bad.output


def _set_connections(db_url: str, allowed: bool) -> None:
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def test_poll_survives_a_source_down_and_loses_nothing_when_postgres_goes(
    live: tuple[Settings, Sources], db_url: str
) -> None:
    """Pass 1: SBD's feed answers 503 (the others load). Pass 2: PostgreSQL goes away while the
    schedule is being fetched, so that pass spools. Pass 3: the database is back, the spool is
    flushed and parsed. Every request made in the three passes ends in raw.fetches."""
    settings, sources = live
    sources.down.add("sbd_feed")
    cycle = {"n": 0}

    def on_cycle(report: ingest.RunReport) -> None:
        cycle["n"] += 1
        if cycle["n"] == 1:
            sources.down.clear()
            sources.on_schedule = lambda: _set_connections(db_url, False)
        elif cycle["n"] == 2:
            sources.on_schedule = None

    def wait(seconds: float) -> None:
        if cycle["n"] == 2:
            _set_connections(db_url, True)

    try:
        reports = ingest.poll(
            settings,
            every=timedelta(milliseconds=10),
            sources=["mlb_stats", "sbd"],
            clock=Clock(CLOCK_START),
            max_cycles=3,
            on_cycle=on_cycle,
            wait=wait,
        )
    finally:
        _set_connections(db_url, True)
    first, second, third = reports
    assert first.database_ok and first.sources["sbd"].ok == 0  # the widget times out, the feed is down
    assert first.sources["mlb_stats"].ok == 3 and first.parsed == 3
    # Pass 2 spools its 5 requests and SBD's timed-out first attempt (retried, kept too).
    assert not second.database_ok and second.spooled == 6 and second.stored == 0
    assert "unreachable" in (second.database_error or "")
    assert third.database_ok and third.flushed_from_spool == 6 and third.spooled == 0
    made = sum(s.requests for r in reports for s in r.sources.values())
    with psycopg.connect(db_url) as conn:
        # Every attempt is a row: the 15 requests, and 4 attempts retried on the way (SBD's widget
        # timing out in each pass, its feed's 503 in the first).
        assert made == 15 and _one(conn, "SELECT count(*) FROM raw.fetches") == made + 4
        assert _one(conn, "SELECT count(*) FROM raw.fetches WHERE parse_status = 'pending'") == 0
        # The schedule fetched while the database was away was parsed on the next pass.
        assert _one(conn, "SELECT count(DISTINCT fetch_id) FROM staging.schedule") == 3
        # SBD's feed loaded in passes 2 and 3; its 2025 "updated" stamps are later than these
        # 2024 fetches, so each split is observed at its own fetch: 2 x 90 rows.
        assert _one(
            conn, "SELECT count(*), count(DISTINCT observed_at) FROM staging.splits WHERE source = 'sbd'"
        ) == (
            180,
            2,
        )
    assert not list((settings.home / "spool").glob("*.json"))
