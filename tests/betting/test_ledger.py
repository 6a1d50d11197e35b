"""The bet ledger on the real 2016 season (SBRO and Pinnacle loaded and linked) in real PostgreSQL:
recorded from the library, the CLI and the API; refused with reasons; settled once; reported."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.betting import ledger
from mlbedge.betting.metrics import clv as clv_of
from mlbedge.betting.settlement import settle
from mlbedge.cli.main import app as cli
from mlbedge.domain.odds import fair_two_way
from mlbedge.settings import get_settings
from tests.api_server import served_without_models
from tests.conftest import DATA_DIR, create_database, drop_database

# ATL at PHI: SBRO closes PHI -1.5 +110 / ATL +1.5 -130, total 8; Pinnacle quotes more totals.
GAME = "20160704-ATL-PHI-0"
OTHER = "20160704-COL-SF-0"
PLACED = datetime(2016, 7, 4, 15, 0, tzinfo=UTC)
API_KEY = "ledger-key-\u00e9-7"


@pytest.fixture(scope="module")
def ledger_db() -> Iterator[str]:
    """The 2016 season, loaded and linked once for this module; the ledger is emptied per test."""
    from mlbedge.games.link import rebuild_games
    from mlbedge.sources.historical.pinnacle import load_pinnacle
    from mlbedge.sources.historical.sbro import load_sbro_files
    from mlbedge.storage.migrations import migrate

    url = create_database()
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
            load_sbro_files(conn, [DATA_DIR / "sbr" / "mlb_odds_sbr_2016.csv"])
            pin = DATA_DIR / "pinnacle_2016"
            load_pinnacle(conn, pin / "pinnacle_mlb2016_games.csv", pin / "pinnacle_mlb2016_lines.csv.gz")
            rebuild_games(conn)
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def db(ledger_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    """A connection to the module's database with an empty ledger, and settings pointing at it."""
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", ledger_db)
    get_settings.cache_clear()
    with psycopg.connect(ledger_db, autocommit=True) as conn:
        conn.execute("TRUNCATE ledger.bets RESTART IDENTITY")
        yield conn
    get_settings.cache_clear()


def _game(conn: psycopg.Connection, game_id: str) -> dict[str, object]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT * FROM curated.games WHERE game_id = %s", (game_id,)).fetchone()
    assert row is not None
    return row


def _bet(**kw: object) -> ledger.BetIn:
    base: dict[str, object] = {
        "game_id": GAME,
        "market": "runline",
        "side": "away",
        "line": 1.5,
        "odds": -130,
        "stake": 20.0,
        "book": "sbro",
        "placed_at": PLACED,
    }
    return ledger.BetIn.model_validate({**base, **kw})


def test_both_run_line_sides_are_recorded_with_their_own_line(db: psycopg.Connection) -> None:
    game = _game(db, GAME)
    assert float(game["home_rl"]) == -1.5  # type: ignore[arg-type]
    away = ledger.add_bet(db, _bet())
    home = ledger.add_bet(db, _bet(side="home", line=-1.5, odds=110))
    assert (away["side"], away["line"], home["side"], home["line"]) == ("away", 1.5, "home", -1.5)
    listed = ledger.list_bets(db)
    assert listed["bet_id"].to_list() == [away["bet_id"], home["bet_id"]]
    assert listed.select(ledger.side_line_expr())["side"].to_list() == ["away +1.5", "home -1.5"]


def test_bad_bets_are_refused_with_the_reason(db: psycopg.Connection) -> None:
    with pytest.raises(ledger.BetRefusedError, match="unknown game '20160704-XXX-PHI-0'"):
        ledger.add_bet(db, _bet(game_id="20160704-XXX-PHI-0"))
    # The away side's line is +1.5 here: -1.5 for ATL was never offered.
    with pytest.raises(
        ledger.BetRefusedError, match=r"runline away -1.5 was never offered.*home -1.5 / away \+1.5"
    ):
        ledger.add_bet(db, _bet(line=-1.5))
    with pytest.raises(ledger.BetRefusedError, match=r"total over 12.5 was never offered.*lines quoted: .*8"):
        ledger.add_bet(db, _bet(market="total", side="over", line=12.5, odds=-110))
    first = ledger.add_bet(db, _bet())
    with pytest.raises(ledger.BetRefusedError, match=f"duplicate.*bet #{first['bet_id']}"):
        ledger.add_bet(db, _bet(placed_at=datetime(2016, 7, 4, 16, 0, tzinfo=UTC)))
    assert ledger.list_bets(db).height == 1
    # The shape of a bet is checked before the database is asked.
    with pytest.raises(ValueError, match="a total bet is on over or under"):
        _bet(market="total", side="home", line=8.0)
    with pytest.raises(ValueError, match="needs its line"):
        _bet(line=None)
    with pytest.raises(ValueError, match="not an American price"):
        _bet(odds=50)


def test_settle_once_with_results_and_clv_against_the_close(db: psycopg.Connection) -> None:
    game = _game(db, GAME)
    ledger.add_bet(db, _bet())
    ledger.add_bet(db, _bet(market="total", side="under", line=float(game["total_close"]), odds=-105))  # type: ignore[arg-type]
    ledger.add_bet(db, _bet(game_id=OTHER, market="moneyline", side="home", line=None, odds=-150, stake=30.0))
    summary = ledger.settle_bets(db)
    assert (summary.settled, summary.voided, summary.still_open) == (3, 0, 0)
    settled = ledger.list_bets(db)
    for row in settled.iter_rows(named=True):
        g = _game(db, row["game_id"])
        expected = settle(
            row["market"],
            row["side"],
            row["stake"],
            row["odds"],
            g["home_score"],
            g["away_score"],
            row["line"],
        )  # type: ignore[arg-type]
        assert (row["result"], row["profit"]) == (expected.result.value, pytest.approx(expected.profit))
    # The run-line bet is measured against SBRO's close of the away side at +1.5.
    away = settled.filter(market="runline").row(0, named=True)
    _, away_fair = fair_two_way(float(game["home_rl_odds"]), float(game["away_rl_odds"]))  # type: ignore[arg-type]
    assert away["close_book"] == "sbro"
    assert away["close_probability"] == pytest.approx(float(away_fair))
    assert away["clv"] == pytest.approx(float(clv_of(-130, float(away_fair))))
    # Settling again changes nothing: no bet is counted twice.
    before = settled.select("bet_id", "result", "profit", "settled_at")
    assert ledger.settle_bets(db) == ledger.SettleSummary(0, 0, 0)
    assert ledger.list_bets(db).select("bet_id", "result", "profit", "settled_at").equals(before)
    report = ledger.ledger_report(ledger.list_bets(db), n_resamples=200)
    assert report.settled == 3 and report.open == 0
    assert report.profit == pytest.approx(sum(settled["profit"]))
    assert report.staked == pytest.approx(70.0)
    assert report.by_day["cumulative_profit"][-1] == pytest.approx(report.profit)
    assert report.verdict().startswith("3 settled bet(s), staked 70.00")


def test_the_cli_adds_lists_settles_and_reports(db: psycopg.Connection, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["bets", "add", "--game", GAME, "--market", "runline", "--side", "away", "--line", "1.5"]
    ok = runner.invoke(cli, [*args, "--odds", "-130", "--stake", "25", "--book", "pinnacle"])
    assert ok.exit_code == 0, ok.output
    assert "recorded bet #1: ATL @ PHI 2016-07-04, runline away +1.5 -130, stake 25 at pinnacle" in ok.output
    again = runner.invoke(cli, [*args, "--odds", "-130", "--stake", "25", "--book", "pinnacle"])
    assert again.exit_code == 1 and "duplicate" in again.output and "bet #1" in again.output
    wrong = runner.invoke(cli, [*args[:-1], "-1.5", "--odds", "-130", "--stake", "25"])
    assert wrong.exit_code == 1 and "never offered" in wrong.output
    unknown = runner.invoke(cli, ["bets", "add", "--game", "nope", "--market", "moneyline", "--side", "home",
                                  "--odds", "-120", "--stake", "5"])  # fmt: skip
    assert unknown.exit_code == 1 and "unknown game 'nope'" in unknown.output
    listed = runner.invoke(cli, ["bets", "list", "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert [(r["bet_id"], r["side"], r["line"], r["result"]) for r in rows] == [(1, "away", 1.5, None)]
    settled = runner.invoke(cli, ["bets", "settle"])
    assert "settled 1, voided 0 (no result), 0 still open" in settled.output
    html, doc = tmp_path / "ledger.html", tmp_path / "ledger.json"
    report = runner.invoke(cli, ["bets", "report", "--html", str(html), "--json", str(doc)])
    assert report.exit_code == 0, report.output
    numbers = json.loads(doc.read_text())
    assert report.output.startswith("1 settled bet(s), staked 25.00")
    assert numbers["settled"] == 1 and numbers["bets_list"][0]["result"] in ("win", "loss")
    page = html.read_text()
    assert 'id="verdict"' in page and "away +1.5" in page and "http" not in page.split("<footer>")[0]


def test_the_api_records_and_lists_behind_its_key(
    db: psycopg.Connection, ledger_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("MLBEDGE_BETS_API_KEY", API_KEY)
    monkeypatch.setenv(
        "MLBEDGE_REDIS_URL", os.environ.get("MLBEDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    monkeypatch.setenv("MLBEDGE_STORE_KEY_PREFIX", f"ledgertest{os.getpid()}")
    monkeypatch.setenv("MLBEDGE_RATE_LIMIT_REQUESTS", "0")
    get_settings.cache_clear()
    body = {"game_id": GAME, "market": "runline", "side": "home", "line": -1.5, "odds": 110, "stake": 10,
            "book": "sbro", "placed_at": "2016-07-04T15:00:00Z"}  # fmt: skip
    key = {"X-API-Key": API_KEY.encode()}  # a UTF-8 key, sent as its bytes
    with served_without_models(get_settings()) as client:
        assert client.post("/v1/bets", json=body).status_code == 401
        assert client.post("/v1/bets", json=body, headers={"X-API-Key": "wrong"}).status_code == 403
        created = client.post("/v1/bets", json=body, headers=key)
        assert created.status_code == 201, created.text
        assert created.json()["bet"] == "home -1.5" and created.json()["source"] == "api"
        dup = client.post("/v1/bets", json=body, headers=key)
        assert dup.status_code == 409 and "duplicate" in dup.json()["detail"]
        never = client.post("/v1/bets", json={**body, "line": 1.5}, headers=key)
        assert never.status_code == 409 and "never offered" in never.json()["detail"]
        shape = client.post("/v1/bets", json={**body, "side": "over"}, headers=key)
        assert shape.status_code == 422
        ledger.settle_bets(db)
        listed = client.get("/v1/bets", headers=key).json()
        assert [b["bet_id"] for b in listed["bets"]] == [created.json()["bet_id"]]
        assert listed["bets"][0]["result"] in ("win", "loss")
        assert listed["verdict"].startswith("1 settled bet(s), staked 10.00")
        assert client.get("/v1/bets?status=open", headers=key).json()["bets"] == []


def test_the_dashboard_shows_the_ledger_over_time(db: psycopg.Connection) -> None:
    """The page's "Your bets" section: the ledger's verdict and cumulative profit by game date."""
    from mlbedge.serving.dashboard import _ledger_html

    assert 'id="ledger-none"' in _ledger_html(ledger.list_bets(db))
    ledger.add_bet(db, _bet())
    ledger.add_bet(db, _bet(game_id="20160705-ATL-PHI-0", line=-1.5, odds=150))  # ATL lays 1.5 that day
    ledger.settle_bets(db)
    bets = ledger.list_bets(db)
    page = _ledger_html(bets)
    summary = ledger.ledger_report(bets, n_resamples=500)
    assert html.escape(summary.verdict()) in page and 'id="ledger-curve"' in page
    points = page.split('points="', 1)[1].split('"', 1)[0].split()
    assert len(points) == summary.by_day.height + 1  # from zero, then one point per day
