"""Live snapshots flow into the point-in-time features, and nothing observed later leaks in.

End to end on the real PostgreSQL: raw fetches -> staging -> gamePk links -> ``curated.games`` ->
``build_and_store`` -> ``curated.game_features``.

Data. The MLB schedule is the REAL recorded 2024-08-13 schedule (15 games), in its pre-game form
(status set back to "Scheduled", scores removed; see ``tests/games/test_live_games.py``), and
later in its recorded final form. The Action Network v2 scoreboards and line histories are
SYNTHETIC, built with the project's documented-shape builder
(``tests/sources/fixtures/action_network_payloads.py``) for the first ten games of that same
schedule: AN team ids through the team crosswalk and start times equal to the MLB ``gameDate``
(``e2e_slate``). The builder's prices are fixed per event, so each fetch moves them by a known
step (:func:`_moved`); the last five games get no AN data at all.

Timeline (UTC; cutoff 60 minutes, so ``as_of`` = first pitch - 1 h: 21:35 for the first game,
22:40 for 745867, 23:10 for 746757, the tenth and last game with AN data):

* pre-game schedule at 12:00; scoreboards at 12:00, 18:00, 21:35 (exactly the first game's
  ``as_of``: "at or before" includes it) and 22:20 (after the cutoff of eight of the ten games,
  before it for 745867 and 746757); each game's line history fetched 5 minutes before its
  ``as_of``, holding the entries published by then.
* Then the poison, all observed after every touched game's ``as_of`` or in play: a scoreboard at
  23:30 (eight games under way with live book-68 outcomes, two not yet started) with absurd
  prices and 97/3 splits, every game's full history fetched the next day with the entries after
  ``as_of`` (and the live ones) re-priced the same way, the final schedule (scores), and rows
  written straight into staging: an ``in_play`` copy of every quote and split at exactly
  ``as_of``, and a pre-game copy one microsecond after it.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

from mlbedge import ingest
from mlbedge.features.io import build_and_store, read_features, read_inputs
from mlbedge.features.pipeline import build_features
from mlbedge.features.registry import Family, registry
from mlbedge.games.link import rebuild_games
from mlbedge.sources.matching import link_games
from mlbedge.sources.raw_store import fetch_ids
from mlbedge.storage.database import fetch_frame
from tests.features.leakage import assert_same_rows
from tests.games.test_live_games import _ingest, _pregame
from tests.sources.fixtures import action_network_payloads as an
from tests.sources.test_ingest_db import E2E_PKS, SCHEDULE, _fetch, _store, e2e_slate

CUTOFF = 60
DAY = datetime(2024, 8, 13, tzinfo=UTC)
MORNING = DAY + timedelta(hours=12)
BOARDS = (  # (fetch time, price step)
    (DAY + timedelta(hours=12), 0),
    (DAY + timedelta(hours=18), 1),
    (DAY + timedelta(hours=21, minutes=35), 2),
    (DAY + timedelta(hours=22, minutes=20), 3),
)
POISON_AT = DAY + timedelta(hours=23, minutes=30)
NEXT_DAY = DAY + timedelta(days=1, hours=9)
BUILT_AT = NEXT_DAY + timedelta(hours=1)
WITH_AN = 10  # the first ten games of the schedule get AN data, the other five none

# Absurd but well-formed prices (overround inside the accepted band), so that a leak would show.
POISON = {"moneyline": (400, -500), "spread": (300, -400), "total": (250, -300)}
POISON_TOTAL = 13.5
DIRECT = (444, -555)  # the rows written straight into staging


def _implied(price: int) -> float:
    return 100.0 / (price + 100.0) if price > 0 else -price / (100.0 - price)


def _fair_home(home: int, away: int) -> float:
    """Multiplicative de-vig, written out by hand."""
    return _implied(home) / (_implied(home) + _implied(away))


def _moved(board: dict[str, Any], step: int) -> dict[str, Any]:
    """The scoreboard ``step`` fetches later: every price 5*step further from even, every
    ticket share 2*step and money share 1*step points towards side A (home/over)."""
    body = copy.deepcopy(board)
    for game in body["games"]:
        for book in game["markets"].values():
            for outcomes in book["event"].values():
                for k, outcome in enumerate(outcomes):
                    odds = outcome["odds"]
                    outcome["odds"] = odds - 5 * step if odds < 0 else odds + 5 * step
                    info = outcome.get("bet_info")
                    if info is not None:
                        sign = 1 if k % 2 == 0 else -1
                        info["tickets"]["percent"] += 2 * step * sign
                        info["money"]["percent"] += step * sign
    return body


def _poisoned_outcome(outcome: dict[str, Any], kind: str, k: int) -> None:
    outcome["odds"] = POISON[kind][k % 2]
    if kind == "total":
        outcome["value"] = POISON_TOTAL
    if "bet_info" in outcome:
        share = 97 if k % 2 == 0 else 3
        outcome["bet_info"] = {
            "tickets": {"value": 0, "percent": share},
            "money": {"value": 0, "percent": share},
        }


def _poisoned_board(board: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(board)
    for game in body["games"]:
        for book in game["markets"].values():
            for kind, outcomes in book["event"].items():
                for k, outcome in enumerate(outcomes):
                    _poisoned_outcome(outcome, kind, k)
    return body


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _history(game: an.SlateGame, fetched_at: datetime, as_of: datetime, *, poison: bool) -> dict[str, Any]:
    """The game's line history as fetched at ``fetched_at``; with ``poison`` every entry published
    after ``as_of`` (live outcomes included) carries the absurd prices."""
    body = an.history(game)
    for book in body.values():
        for kind, outcomes in book["event"].items():
            for k, outcome in enumerate(outcomes):
                kept = [e for e in outcome["history"] if _when(e["updated_at"]) <= fetched_at]
                for entry in kept:
                    if poison and (_when(entry["updated_at"]) > as_of or outcome["is_live"]):
                        entry["odds"] = POISON[kind][k % 2]
                        entry["value"] = POISON_TOTAL if kind == "total" else entry["value"]
                outcome["history"] = kept
    return body


def _history_fetch(game: an.SlateGame, mlb: dict[str, Any], body: dict[str, Any], at: datetime) -> Any:
    context = {
        "event_id": game.event_id,
        "start_time": game.start_time.isoformat(),
        "away_team_id": mlb["teams"]["away"]["team"]["id"],
        "home_team_id": mlb["teams"]["home"]["team"]["id"],
    }
    return _fetch("action_network", "history", json.dumps(body).encode(), at, context=context)


def _board_fetch(body: dict[str, Any], at: datetime) -> Any:
    return _fetch("action_network", "scoreboard", json.dumps(body).encode(), at, params={"date": "20240813"})


def _parse_link_rebuild(conn: psycopg.Connection, *fetches: Any) -> None:
    _store(conn, *fetches)
    summary = ingest.parse_stored(conn, fetch_ids(conn, pending_only=True))
    assert summary.failures == 0 and summary.quarantined == 0
    link_games(conn)
    rebuild_games(conn, cutoff_minutes=CUTOFF)
    conn.commit()


def _build(conn: psycopg.Connection) -> pl.DataFrame:
    report = build_and_store(conn, full=True, cutoff_minutes=CUTOFF, now=BUILT_AT)
    conn.commit()
    assert report.games == 15
    return read_features(conn)


# A game's as_of plus %(after)s microseconds.
AS_OF_PLUS = "g.start_time_utc - make_interval(mins => %(cutoff)s) + make_interval(secs => %(after)s / 1e6)"


def _poison_staging_directly(conn: psycopg.Connection) -> None:
    """An in-play copy of every quote and split at exactly ``as_of``, and a pre-game one 1 us later
    (as if a feed of their own: the first game has real quotes at exactly its ``as_of`` too)."""
    for in_play, after in ((True, 0), (False, 1)):
        conn.execute(
            f"""INSERT INTO staging.odds_quotes (source, source_game_key, game_pk, book, market, side, line,
                   price, is_opening, is_live, in_play, observed_at, fetch_id)
               SELECT DISTINCT ON (q.source, q.source_game_key, q.book, q.market, q.side)
                      'poison', q.source_game_key, q.game_pk, q.book, q.market, q.side,
                      CASE WHEN q.market = 'total' THEN %(total)s ELSE q.line END,
                      CASE WHEN q.side IN ('home', 'over') THEN %(a)s ELSE %(b)s END,
                      false, false, %(in_play)s,
                      {AS_OF_PLUS},
                      q.fetch_id
               FROM staging.odds_quotes q JOIN curated.games g USING (game_pk)
               WHERE NOT q.is_opening AND NOT q.is_live AND q.source <> 'poison'
               ORDER BY q.source, q.source_game_key, q.book, q.market, q.side, q.observed_at""",
            {"total": POISON_TOTAL, "a": DIRECT[0], "b": DIRECT[1], "in_play": in_play,
             "cutoff": CUTOFF, "after": after},
        )  # fmt: skip
        conn.execute(
            f"""INSERT INTO staging.splits (source, source_game_key, game_pk, book, market, side, bets_pct,
                   money_pct, in_play, observed_at, fetch_id)
               SELECT DISTINCT ON (s.source, s.source_game_key, s.book, s.market, s.side)
                      'poison', s.source_game_key, s.game_pk, s.book, s.market, s.side,
                      CASE WHEN s.side IN ('home', 'over') THEN 97 ELSE 3 END,
                      CASE WHEN s.side IN ('home', 'over') THEN 97 ELSE 3 END, %(in_play)s,
                      {AS_OF_PLUS},
                      s.fetch_id
               FROM staging.splits s JOIN curated.games g USING (game_pk) WHERE s.source <> 'poison'
               ORDER BY s.source, s.source_game_key, s.book, s.market, s.side, s.observed_at""",
            {"in_play": in_play, "cutoff": CUTOFF, "after": after},
        )
    conn.commit()


def _row(frame: pl.DataFrame, game_id: str) -> dict[str, Any]:
    return frame.filter(pl.col("game_id") == game_id).row(0, named=True)


def _event(board: dict[str, Any], event_id: int) -> dict[str, Any]:
    return next(g for g in board["games"] if g["id"] == event_id)


def _expected_ml_home(board: dict[str, Any], event_id: int) -> float:
    """Mean over the books (consensus 15, DraftKings 68, FanDuel 69; 30 is the opening line) of
    the hand-computed de-vigged home probability of this scoreboard's moneyline."""
    markets = _event(board, event_id)["markets"]
    probs = [_fair_home(*(o["odds"] for o in markets[b]["event"]["moneyline"])) for b in ("15", "68", "69")]
    return sum(probs) / len(probs)


def _home_tickets(board: dict[str, Any], event_id: int, book: str) -> float:
    return _event(board, event_id)["markets"][book]["event"]["moneyline"][0]["bet_info"]["tickets"]["percent"]


def test_live_quotes_and_splits_fill_the_features_as_of_the_cutoff_and_later_ones_change_nothing(
    conn: psycopg.Connection, fixtures_dir: Path
) -> None:
    real = json.loads((fixtures_dir / SCHEDULE).read_text())
    mlb_games = real["dates"][0]["games"]
    slate = e2e_slate(fixtures_dir)[:WITH_AN]
    teams = an.read_teams(fixtures_dir)
    as_of = {g.event_id: g.start_time - timedelta(minutes=CUTOFF) for g in slate}
    first, eighth, second = slate[0], slate[8], slate[1]  # 747004, 745867 and 746601
    assert as_of[first.event_id] == BOARDS[2][0] and BOARDS[3][0] < as_of[eighth.event_id]
    assert max(as_of.values()) < POISON_AT

    # ---- the clean record ---------------------------------------------------------------------
    _ingest(conn, _pregame(real), MORNING)
    base = an.scoreboard(slate, teams)
    boards = {at: _moved(base, step) for at, step in BOARDS}
    histories = []
    for game, mlb in zip(slate, mlb_games, strict=False):
        at = as_of[game.event_id] - timedelta(minutes=5)
        histories.append(
            _history_fetch(game, mlb, _history(game, at, as_of[game.event_id], poison=False), at)
        )
    _parse_link_rebuild(conn, *(_board_fetch(body, at) for at, body in boards.items()), *histories)

    games = fetch_frame(conn, "SELECT game_id, game_pk, start_time_utc FROM curated.games ORDER BY game_pk")
    assert games.height == 15 and sorted(games["game_pk"].to_list()) == sorted(E2E_PKS)
    game_id = dict(zip(games["game_pk"].to_list(), games["game_id"].to_list(), strict=True))
    linked = conn.execute(
        "SELECT count(DISTINCT game_pk), count(*) FILTER (WHERE game_pk IS NULL) FROM staging.odds_quotes"
    ).fetchone()
    assert linked == (WITH_AN, 0)

    clean = _build(conn)
    assert clean.height == 15

    # The first game: its cutoff is 21:35, the scoreboard fetched at exactly 21:35 is in force for
    # every book; the 22:20 one (pre-game, after the cutoff) is not.
    row = _row(clean, game_id[E2E_PKS[0]])
    assert row["as_of"] == as_of[first.event_id]
    at_cutoff, too_late = boards[BOARDS[2][0]], boards[BOARDS[3][0]]
    expected = _expected_ml_home(at_cutoff, first.event_id)
    assert expected != pytest.approx(_expected_ml_home(too_late, first.event_id), abs=1e-4)
    assert expected != pytest.approx(_expected_ml_home(boards[BOARDS[1][0]], first.event_id), abs=1e-4)
    assert row["ml_home_prob"] == pytest.approx(expected, rel=1e-12)
    assert row["ml_book_count"] == 3 and row["market_books"] == "consensus,draftkings,fanduel"
    assert row["src_market_observed_at"] == as_of[first.event_id]
    assert row["mkt_minutes_since_last_quote"] == 0.0
    # Its opening: consensus and DraftKings from the history's first entry (20 h before first
    # pitch), FanDuel (not in the history) from the 12:00 scoreboard.
    hist = an.history(first)
    opening = [
        _fair_home(*(o["history"][0]["odds"] for o in hist[b]["event"]["moneyline"][:2]))
        for b in ("15", "68")
    ]
    fanduel = _event(boards[MORNING], first.event_id)["markets"]["69"]["event"]["moneyline"]
    opening.append(_fair_home(*(o["odds"] for o in fanduel)))
    assert row["ml_home_prob_open"] == pytest.approx(sum(opening) / 3, rel=1e-12)
    assert row["ml_home_prob_move"] == pytest.approx(expected - sum(opening) / 3, rel=1e-9)
    # Splits: an even event id carries bet_info on consensus and DraftKings.
    tickets = [_home_tickets(at_cutoff, first.event_id, b) for b in ("15", "68")]
    assert row["splits_ml_home_bets_pct"] == pytest.approx(sum(tickets) / 2, rel=1e-12)
    assert row["splits_books"] == "consensus,draftkings" and row["splits_book_count"] == 2
    assert row["splits_ml_home_bets_move"] == pytest.approx(2 * BOARDS[2][1], rel=1e-12)  # since 12:00
    assert row["src_splits_observed_at"] == as_of[first.event_id]

    # 746601 (odd event id): the consensus alone has splits, its 21:35 ticket share is the feature.
    row = _row(clean, game_id[E2E_PKS[1]])
    assert row["splits_ml_home_bets_pct"] == _home_tickets(at_cutoff, second.event_id, "15")
    assert row["splits_books"] == "consensus" and row["splits_book_count"] == 1

    # 745867: cutoff 22:40, so the 22:20 scoreboard is the one in force.
    row = _row(clean, game_id[E2E_PKS[8]])
    assert row["ml_home_prob"] == pytest.approx(_expected_ml_home(too_late, eighth.event_id), rel=1e-12)
    assert row["src_market_observed_at"] == BOARDS[3][0]

    # Every game with AN data has its market and splits filled; the five without have nulls.
    market = [f.name for f in registry() if f.family == Family.MARKET]
    splits = [f.name for f in registry() if f.family == Family.SPLITS]
    with_an = clean.filter(pl.col("game_id").is_in([game_id[pk] for pk in E2E_PKS[:WITH_AN]]))
    without = clean.filter(pl.col("game_id").is_in([game_id[pk] for pk in E2E_PKS[WITH_AN:]]))
    filled = ["ml_home_prob", "ml_home_prob_move", "total_line", "total_over_prob", "rl_home_cover_prob",
              "splits_ml_home_bets_pct", "splits_total_over_money_pct",
              "splits_ml_home_bets_move"]  # fmt: skip
    assert with_an.select(pl.col(filled).null_count()).sum_horizontal().item() == 0
    assert (with_an["rl_book_count"] == 3).all() and (with_an["splits_book_count"] >= 1).all()
    assert without.height == 5
    counts = ["ml_book_count", "ml_n_quotes", "total_book_count", "total_n_quotes", "rl_book_count",
              "splits_book_count"]  # fmt: skip
    assert without.select(pl.col(counts).max()).row(0) == (0,) * len(counts)
    nullable = [c for c in market + splits if c not in counts]
    assert without.select(pl.col(nullable).null_count()).row(0) == (5,) * len(nullable), "null, never 0"
    assert without["splits_books"].null_count() == 5 and without["market_books"].null_count() == 5

    # ---- the poison ---------------------------------------------------------------------------
    poison_board = _poisoned_board(an.scoreboard(e2e_slate(fixtures_dir, now=POISON_AT)[:WITH_AN], teams))
    assert sum(g["status"] == "inprogress" for g in poison_board["games"]) == 8
    full_histories = [
        _history_fetch(game, mlb, _history(game, NEXT_DAY, as_of[game.event_id], poison=True), NEXT_DAY)
        for game, mlb in zip(slate, mlb_games, strict=False)
    ]
    _ingest(conn, real, NEXT_DAY)  # the final scores
    _parse_link_rebuild(conn, _board_fetch(poison_board, POISON_AT), *full_histories)
    _poison_staging_directly(conn)
    later = conn.execute(
        "SELECT count(*) FILTER (WHERE in_play), count(*) FILTER (WHERE NOT in_play AND observed_at > %s) "
        "FROM staging.odds_quotes",
        (BOARDS[3][0],),
    ).fetchone()
    assert later is not None and later[0] > 300 and later[1] > 100

    poisoned = _build(conn)
    assert_same_rows(poisoned, clean, "features after later and in-play quotes and splits arrived")

    # Controls: the poison is real input the pipeline does read when the rules allow it.
    # With no cutoff, 746757 (first pitch 00:10, not under way at 23:30) sees the 23:30 board and
    # its 23:40 history entries, all priced +400/-500, and the 97% ticket share.
    no_cutoff = build_features(read_inputs(conn), cutoff_minutes=0)
    row = _row(no_cutoff, game_id[E2E_PKS[9]])
    assert row["ml_home_prob"] == pytest.approx(_fair_home(*POISON["moneyline"]), rel=1e-12)
    assert row["splits_ml_home_bets_pct"] == 97.0
    # Clearing the in-play flag of the rows at exactly as_of lets them in: the flag kept them out.
    conn.execute("UPDATE staging.odds_quotes SET in_play = false WHERE price IN (%s, %s)", DIRECT)
    conn.execute("UPDATE staging.splits SET in_play = false WHERE source = 'poison'")
    unflagged = build_features(read_inputs(conn), cutoff_minutes=CUTOFF)
    row = _row(unflagged, game_id[E2E_PKS[1]])  # cutoff 21:40: no real quote at that instant
    assert row["ml_home_prob"] == pytest.approx(_fair_home(*DIRECT), rel=1e-12)
    assert row["splits_ml_home_bets_pct"] == 97.0
    conn.rollback()
