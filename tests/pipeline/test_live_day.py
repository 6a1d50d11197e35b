"""A live game day end to end: loopback sources -> ``mlbedge pipeline run --date D --now T`` alone
-> 15 games in ``curated.games`` with their gamePk and both probable pitchers -> the API predicts them.

What the loopback server (a real HTTP server on 127.0.0.1, :mod:`tests.sources.server`) serves:

- MLB Stats API: the REAL recorded 2024-08-13 schedule (15 games, probable pitchers hydrated),
  moved to day D ("tomorrow" of the replayed moment T) and made pre-game (status set back to
  Scheduled, score, isWinner, leagueRecord and linescore removed). The same recording, as it was
  (Final, with scores) but moved to D-2 under other gamePks, is the season's results the backfill
  finds; every other day of the season is an empty schedule. Standings and teams are the real
  recordings.
- SBD: the REAL recorded srfeeds prices and betting splits (15 games of 2025-06-13) and the REAL
  recorded widget game, re-pointed onto D's games (teams, first pitch; the splits' ``updated``
  moved before T). Prices, books and percentages are the recorded ones.
- Action Network: SYNTHETIC, built from the documented v2 scoreboard shape
  (tests/sources/fixtures/action_network_payloads.py; no raw AN MLB payload is public), with its
  "consensus" (15) and "open" (30) books beside DraftKings and FanDuel.
- VSIN: the SYNTHETIC pages built from the documented layouts (no recorded VSIN HTML exists); their
  games are not D's and stay unlinked.

History and models are the pipeline tests' session fixture (the real 2016 season, small models).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.domain.books import NOT_BETTABLE
from mlbedge.domain.teams import by_mlb_id
from mlbedge.settings import Settings, get_settings
from mlbedge.storage.database import fetch_frame
from tests.serving.conftest import ServedApp
from tests.sources.fixtures import action_network_payloads as an
from tests.sources.server import FixtureServer, Reply, html_reply, json_reply

RECORDED = date(2024, 8, 13)
SCHEDULE = "mlb_statsapi/schedule_2024-08-13_hydrate_person_probablePitcher_linescore.json"
DAY = date(2017, 8, 15)  # D: after the loaded history (2016), a Tuesday like the recording
NOW = datetime(2017, 8, 14, 23, 0, tzinfo=UTC)  # T: 19:00 Eastern the evening before D
LATER = NOW + timedelta(hours=2)  # a second pass, still long before D's first cutoff
RESULTS_DAY = DAY - timedelta(days=2)  # the recorded finals, as the season's latest results
RESULTS_PK_OFFSET = 900_000  # the finals copy are other games: other gamePks
LOCAL = Path(__file__).resolve().parents[1] / "sources" / "fixtures"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moved(
    games: list[dict[str, Any]], to: date, *, pregame: bool, pk_offset: int = 0
) -> list[dict[str, Any]]:
    """The recorded games moved to ``to`` (same clock times); pre-game: no outcome fields."""
    out = copy.deepcopy(games)
    shift = to - RECORDED
    for game in out:
        game["gamePk"] += pk_offset
        game["gameDate"] = _iso(datetime.fromisoformat(game["gameDate"]) + shift)
        game["officialDate"] = to.isoformat()
        game["season"] = str(to.year)
        if pregame:
            game["status"] = {"abstractGameState": "Preview", "codedGameState": "S",
                              "detailedState": "Scheduled", "statusCode": "S", "startTimeTBD": False}  # fmt: skip
            for label in ("linescore", "isTie"):
                game.pop(label, None)
            for side in ("home", "away"):
                for label in ("score", "isWinner", "leagueRecord"):
                    game["teams"][side].pop(label, None)
    return out


@dataclass
class LiveSources:
    """The routes of the loopback server for day D."""

    server: FixtureServer
    fixtures_dir: Path
    recorded: list[dict[str, Any]] = field(init=False)
    pitchers: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)  # late changes

    def __post_init__(self) -> None:
        f = self.fixtures_dir
        self.recorded = json.loads((f / SCHEDULE).read_text())["dates"][0]["games"]
        self.day_games = _moved(self.recorded, DAY, pregame=True)
        self.finals = _moved(self.recorded, RESULTS_DAY, pregame=False, pk_offset=RESULTS_PK_OFFSET)
        self.files = {
            "standings": (f / "mlb_statsapi/standings_2024_regularSeason.json").read_bytes(),
            "teams": (f / "mlb_statsapi/teams_sportId1.json").read_bytes(),
        }
        slate = [
            an.SlateGame(
                400000 + k,
                datetime.fromisoformat(g["gameDate"]),
                "scheduled",
                by_mlb_id(g["teams"]["away"]["team"]["id"]).action_network_id,
                by_mlb_id(g["teams"]["home"]["team"]["id"]).action_network_id,
            )
            for k, g in enumerate(self.day_games)
        ]
        self.board = json.dumps(an.scoreboard(slate, an.read_teams(f))).encode()
        self.srfeeds = json.dumps(self._repointed_srfeeds()).encode()
        self.widget = json.dumps(self._repointed_widget()).encode()
        s = self.server
        s.route(r"/mlb/api/v1/schedule", self.schedule)
        s.route(r"/mlb/api/v1/standings", lambda p, q: json_reply(self.files["standings"]))
        s.route(r"/mlb/api/v1/teams", lambda p, q: json_reply(self.files["teams"]))
        s.route(r"/an/web/v2/scoreboard/mlb", self.scoreboard)
        s.route(r"/vsin/betting-splits/", self.vsin)
        s.route(r"/sbd/wp-json/adpt/v1/mlb-odds", lambda p, q: json_reply(self.widget))
        s.route(r"/srfeeds/v2/matchups/mlb/betting-splits", lambda p, q: json_reply(self.srfeeds))

    def _repointed_srfeeds(self) -> dict[str, Any]:
        body = json.loads(
            (self.fixtures_dir / "sbd/srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json").read_text()
        )
        updated = _iso(NOW - timedelta(minutes=30))
        for game, target in zip(body["games"], self.day_games, strict=True):
            game["date"] = target["gameDate"]
            game["gameday"] = DAY.isoformat()
            for side in ("home", "away"):
                name = target["teams"][side]["team"]["name"]
                game[side].update({"code": None, "city": "", "team": name})
            for block in (game.get("bettingSplits") or {}).values():
                block["updated"] = updated
        body["group"] = DAY.isoformat()
        return body

    def _repointed_widget(self) -> dict[str, Any]:
        capture = json.loads(
            (
                self.fixtures_dir / "sbd/wp-json_adpt_v1_mlb-odds_2026-09-27T14-06-46Z_trimmed_1game.json"
            ).read_text()
        )
        body = capture[0]["body"]  # the HTTP body inside the recorder's capture
        target = self.day_games[1]
        game = body["data"][0]
        game["scheduled"] = target["gameDate"]
        for side in ("home", "away"):
            team = by_mlb_id(target["teams"][side]["team"]["id"])
            game["competitors"][side].update(
                {"abbr": team.abbr, "abbreviation": team.abbr, "market": "", "name": team.name}
            )
        for block in (game.get("bettingSplits") or {}).values():
            block["updated"] = _iso(NOW - timedelta(minutes=30))
        return body

    def schedule(self, path: str, q: dict[str, str]) -> Reply:
        start, end = date.fromisoformat(q["startDate"]), date.fromisoformat(q["endDate"])
        dates = []
        if start <= RESULTS_DAY <= end:
            dates.append({"date": RESULTS_DAY.isoformat(), "games": self.finals})
        if start <= DAY <= end:
            games = copy.deepcopy(self.day_games)
            for game in games:
                for side in ("home", "away"):
                    change = self.pitchers.get((game["gamePk"], side))
                    if change is not None:
                        game["teams"][side]["probablePitcher"] = change
            dates.append({"date": DAY.isoformat(), "games": games})
        body = {"copyright": "", "totalGames": sum(len(d["games"]) for d in dates), "dates": dates}
        return json_reply(json.dumps(body).encode())

    def scoreboard(self, path: str, q: dict[str, str]) -> Reply:
        if q.get("date") == DAY.strftime("%Y%m%d"):
            return json_reply(self.board)
        return json_reply(b'{"league": {"name": "mlb"}, "games": []}')

    def vsin(self, path: str, q: dict[str, str]) -> Reply:
        name = "vsin_current_sp_table.html" if q.get("view") == "today" else "vsin_legacy_freezetable.html"
        return html_reply((LOCAL / name).read_bytes())

    def backfill_hits(self) -> int:
        """Schedule requests for ranges ending before yesterday (the backfill's, not the pass's)."""
        return sum(
            1
            for h in self.server.hits_for(r"/mlb/api/v1/schedule")
            if date.fromisoformat(h.query["endDate"]) < DAY - timedelta(days=1)
        )


@dataclass
class LiveDay:
    """The sources, the settings (also exported as MLBEDGE_ variables) and the CLI."""

    sources: LiveSources
    settings: Settings
    url: str

    def run(self, *args: str) -> Any:
        return CliRunner().invoke(app, [*args, "--home", str(self.settings.home)])

    def table(self, sql: str, params: Any = None) -> pl.DataFrame:
        with psycopg.connect(self.url) as conn:
            return fetch_frame(conn, sql, params)


@pytest.fixture
def live_day(
    pipeline_settings: Callable[..., Settings], fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveDay]:
    server = FixtureServer().start()
    try:
        sources = LiveSources(server, fixtures_dir)
        base = server.url
        settings = pipeline_settings(
            mlb_stats_base_url=f"{base}/mlb",
            action_network_base_url=f"{base}/an",
            vsin_base_url=f"{base}/vsin",
            sbd_base_url=f"{base}/sbd",
            sbd_feeds_base_url=f"{base}/srfeeds",
            mlb_stats_min_interval_seconds=0.0,
            action_network_min_interval_seconds=0.0,
            vsin_min_interval_seconds=0.0,
            sbd_min_interval_seconds=0.0,
            http_max_retries=0,
            http_timeout_seconds=10.0,
        )
        names = (
            "database_url", "redis_url", "store_backend", "store_key_prefix", "mlflow_tracking_uri",
            "model_name_prefix", "data_dir", "recommend_min_edge", "cutoff_minutes", "mlb_stats_base_url",
            "action_network_base_url", "vsin_base_url", "sbd_base_url", "sbd_feeds_base_url",
            "mlb_stats_min_interval_seconds", "action_network_min_interval_seconds",
            "vsin_min_interval_seconds", "sbd_min_interval_seconds", "http_max_retries", "http_timeout_seconds",
        )  # fmt: skip
        for name in names:
            monkeypatch.setenv(f"MLBEDGE_{name.upper()}", str(getattr(settings, name)))
        monkeypatch.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        yield LiveDay(sources, settings, str(settings.database_url))
    finally:
        get_settings.cache_clear()
        server.stop()


def test_pipeline_run_alone_serves_the_live_day(live_day: LiveDay) -> None:
    done = live_day.run(
        "pipeline",
        "run",
        "--date",
        DAY.isoformat(),
        "--now",
        NOW.isoformat(),
        "--no-retrain",
        "--retries",
        "0",
    )
    assert done.exit_code == 0, done.output
    assert f"Pipeline {DAY} (ok" in done.output
    assert "sources_failed=[]" in done.output  # every source answered and was planned without error

    # Every one of D's 15 games, with its gamePk and both probable pitchers.
    games = live_day.table("SELECT * FROM curated.games WHERE date = %s ORDER BY game_pk", (DAY,))
    recorded = live_day.sources.recorded
    assert games.height == 15
    assert games["game_pk"].to_list() == sorted(g["gamePk"] for g in recorded)
    assert games["home_starter"].null_count() == 0 and games["away_starter"].null_count() == 0
    first = games.filter(pl.col("game_pk") == recorded[0]["gamePk"]).row(0, named=True)
    assert first["home_starter"] == recorded[0]["teams"]["home"]["probablePitcher"]["fullName"]
    assert games["home_score"].null_count() == 15  # pre-game: no labels

    # Fetches were stamped with the replayed moment, not the machine's clock.
    stamps = live_day.table("SELECT min(fetched_at) AS first, max(fetched_at) AS last FROM raw.fetches")
    assert stamps["first"][0] >= NOW and stamps["last"][0] < NOW + timedelta(minutes=10)

    # The season's results were backfilled (raw first, parsed, linked): D-2's finals with scores,
    # and they reach D's features (form and the starters' records are not empty on day one).
    assert live_day.sources.backfill_hits() == 5  # 2017-03-15 .. D-2 in runs of 31 days
    finals = live_day.table(
        "SELECT game_pk, home_score, away_score FROM curated.games WHERE date = %s", (RESULTS_DAY,)
    )
    assert finals.height == 15 and finals["home_score"].null_count() == 0
    assert finals["home_score"].to_list() != [None] * 15
    features = live_day.table(
        "SELECT game_id, home_win_pct_l5, home_sp_starts_season FROM curated.game_features WHERE date = %s",
        (DAY,),
    )
    assert features.height == 15
    assert features["home_win_pct_l5"].null_count() == 0
    assert (features["home_sp_starts_season"] == 1).all()  # the same starters pitched on D-2

    predictions = live_day.table("SELECT * FROM ops.predictions WHERE date = %s", (DAY,))
    assert predictions["game_id"].n_unique() == 15

    # The API serves the day: games with gamePk, pitchers, status and local start; predictions.
    api = ServedApp(live_day.settings).start()
    try:
        with api.client() as client:
            body = client.get("/v1/games", params={"date": DAY.isoformat()}).json()
            assert len(body["games"]) == 15
            for game in body["games"]:
                assert game["game_pk"] is not None and game["status"] == "Scheduled"
                assert game["home_starter"] and game["away_starter"]
                home = by_mlb_id(game["home_team_id"])
                local = datetime.fromisoformat(game["start_time_local"])
                utc = datetime.fromisoformat(game["start_time_utc"])
                assert (
                    local == utc and local.utcoffset() == utc.astimezone(ZoneInfo(home.timezone)).utcoffset()
                )
            for game in body["games"]:
                prediction = client.get(f"/v1/predictions/{game['game_id']}")
                assert prediction.status_code == 200, prediction.text
                markets = {m["market"]: m for m in prediction.json()["markets"]}
                assert set(markets) == {"moneyline", "total", "runline"}
                assert 0.0 < markets["moneyline"]["sides"][0]["probability"] < 1.0
            # Recommended at books a person can use: never Action Network's consensus or open line.
            recommended = client.get(
                "/v1/recommendations", params={"date": DAY.isoformat(), "bankroll": 1000}
            )
            assert recommended.status_code == 200, recommended.text
            assert all(b["book"] not in NOT_BETTABLE for b in recommended.json()["bets"])
    finally:
        api.stop()

    # A second pass later: a new probable pitcher reaches curated.games and the game's features,
    # and the backfilled days are not asked for again.
    hits = live_day.sources.backfill_hits()
    pk = recorded[0]["gamePk"]
    live_day.sources.pitchers[(pk, "home")] = {"id": 999001, "fullName": "Late Callup", "link": ""}
    again = live_day.run(
        "pipeline",
        "run",
        "--date",
        DAY.isoformat(),
        "--now",
        LATER.isoformat(),
        "--no-retrain",
        "--retries",
        "0",
    )
    assert again.exit_code == 0, again.output
    assert "sources_failed=[]" in again.output
    assert live_day.sources.backfill_hits() == hits
    row = live_day.table(
        "SELECT g.home_starter, f.home_sp_starts_season FROM curated.games g "
        "JOIN curated.game_features f USING (game_id) WHERE g.game_pk = %s",
        (pk,),
    ).row(0, named=True)
    assert row == {"home_starter": "Late Callup", "home_sp_starts_season": 0}


def test_zero_games_on_a_scheduled_day_fails_and_alerts(live_day: LiveDay) -> None:
    """The schedule lists 15 games; a run that does not link them (the link step left out) must not
    end "ok": it exits non-zero and stores a critical alert."""
    done = live_day.run(
        "pipeline", "run", "--date", DAY.isoformat(), "--now", NOW.isoformat(), "--no-retrain",
        "--retries", "0", "--steps", "ingest,features,materialize,predict",
    )  # fmt: skip
    assert done.exit_code == 1, done.output
    assert live_day.table("SELECT count(*) AS n FROM curated.games WHERE date = %s", (DAY,)).item() == 0
    alerts = live_day.table("SELECT kind, subject, window_key, severity, resolved_at FROM monitoring.alerts")
    assert alerts.filter(pl.col("kind") == "pipeline_empty").rows() == [
        ("pipeline_empty", "pipeline:features", DAY.isoformat(), "critical", None)
    ]
    runs = live_day.table("SELECT status FROM ops.pipeline_runs")
    assert runs["status"].to_list() == ["partial"]
