"""Action Network parsers on synthetic payloads built from the documented shape (the teams[] are
the real recorded ones), and game matching on the real AN event <-> gamePk pairs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from mlbedge.domain.teams import TEAMS
from mlbedge.sources import action_network
from mlbedge.sources.matching import match_games
from tests.sources.conftest import make_meta
from tests.sources.fixtures import action_network_payloads as an

DERIVED = "action_network/derived_v2_gameprojections_open_vs_consensus_2026-05-03.json"
SLATE_PARAMS = {"date": "20250701", "bookIds": "15,30,68,69", "periods": "event"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _board(fixtures_dir: Path, teams: dict[int, dict[str, Any]]) -> tuple[dict[str, Any], list[an.SlateGame]]:
    slate = an.csv_slate(fixtures_dir)
    return an.scoreboard(slate, teams), slate


def test_scoreboard_quotes_every_book_market_and_side(fixtures_dir: Path, an_teams: dict) -> None:
    payload, _ = _board(fixtures_dir, an_teams)
    fetched = _at("2025-07-01T17:07:17+00:00")  # the CSV's extraction time: one game under way
    parsed = action_network.parse_scoreboard(
        json.dumps(payload).encode(), make_meta("action_network", "scoreboard", fetched, SLATE_PARAMS)
    )
    assert not parsed.quarantine
    games = parsed.frame("source_games")
    assert games.height == 15
    # AN team ids resolve to MLB ids: NYY (191) at TOR (188) is 147 at 141.
    first = games.filter(pl.col("source_game_key") == "257324").row(0, named=True)
    assert (first["away_team_id"], first["home_team_id"]) == (147, 141)
    assert first["start_time"] == _at("2025-07-01T19:07:00+00:00") and first["game_date"] == date(2025, 7, 1)
    odds = parsed.frame("odds_quotes")
    expected = sum(
        len(outcomes)
        for game in payload["games"]
        for book in game["markets"].values()
        for outcomes in book["event"].values()
    )
    assert odds.height == expected  # every outcome, live ones included (marked)
    assert set(odds.get_column("book")) == {"consensus", "open", "draftkings", "fanduel"}
    assert set(odds.get_column("market")) == {"moneyline", "runline", "total"}
    assert odds.filter(pl.col("market") == "moneyline").get_column("line").is_null().all()
    assert set(odds.filter(pl.col("market") == "runline").get_column("line").abs()) == {1.5}
    assert odds.filter(pl.col("book") == "open").get_column("is_opening").all()
    assert (odds.get_column("observed_at") == fetched).all()  # no timestamp in the scoreboard
    # The postponed game has no lines, but the game itself is kept.
    assert odds.filter(pl.col("source_game_key") == "257325").is_empty()
    # One real price, checked against the payload.
    game = next(g for g in payload["games"] if g["id"] == 257330)
    ml_home = next(o for o in game["markets"]["69"]["event"]["moneyline"] if o["side"] == "home")["odds"]
    row = odds.filter(
        (pl.col("source_game_key") == "257330")
        & (pl.col("book") == "fanduel")
        & (pl.col("market") == "moneyline")
        & (pl.col("side") == "home")
    )
    assert row.get_column("price").to_list() == [ml_home]


def test_scoreboard_bet_info_becomes_splits(fixtures_dir: Path, an_teams: dict) -> None:
    payload, _ = _board(fixtures_dir, an_teams)
    parsed = action_network.parse_scoreboard(
        json.dumps(payload).encode(),
        make_meta("action_network", "scoreboard", _at("2025-07-01T12:00:00+00:00"), SLATE_PARAMS),
    )
    splits = parsed.frame("splits")
    assert set(splits.get_column("book")) == {"consensus", "draftkings"}
    # tickets and money each sum to 100 per market of a game
    sums = splits.group_by("source_game_key", "book", "market").agg(
        pl.col("bets_pct").sum(), pl.col("money_pct").sum()
    )
    assert (sums.get_column("bets_pct") == 100).all() and (sums.get_column("money_pct") == 100).all()
    assert (
        splits.filter(pl.col("book") == "consensus").get_column("source_game_key").n_unique() == 14
    )  # not postponed


def test_an_live_lines_are_in_play_and_never_pregame(fixtures_dir: Path, an_teams: dict) -> None:
    """Rule: for a game in progress a book's arrays mix pre-game and live outcomes; every
    ``is_live`` outcome, and every price of a game already under way at fetch time (closing or
    in-game), is ``in_play`` and never a pre-game quote. The opening line (book 30) stays pre-game."""
    payload, _ = _board(fixtures_dir, an_teams)
    fetched = _at("2025-07-01T20:00:00+00:00")  # 53 minutes after NYY@TOR's first pitch
    parsed = action_network.parse_scoreboard(
        json.dumps(payload).encode(), make_meta("action_network", "scoreboard", fetched, SLATE_PARAMS)
    )
    odds = parsed.frame("odds_quotes")
    live = odds.filter(pl.col("is_live"))
    assert live.height == 6 and live.get_column("in_play").all()  # book 68's live outcomes
    started = odds.filter(pl.col("source_game_key") == "257324")
    assert started.filter(~pl.col("is_opening")).get_column("in_play").all()
    assert not started.filter(pl.col("is_opening")).get_column("in_play").any()
    later = odds.filter(pl.col("source_game_key") == "257338")  # 02:10Z next day: still pre-game
    assert not later.get_column("in_play").any()
    # No live outcome gives a split, and the game's splits are not pre-game either.
    assert (
        not parsed.frame("splits").filter((pl.col("source_game_key") == "257324") & ~pl.col("in_play")).height
    )


def test_an_scoreboard_fetched_after_the_games_is_not_pregame(fixtures_dir: Path, an_teams: dict) -> None:
    """Rule: a ``date=`` query for a past day is not a historical snapshot: it returns closing
    or in-play prices (the recorded 9th-inning over +310). Fetched after first pitch, every
    non-opening quote is ``in_play``."""
    payload, _ = _board(fixtures_dir, an_teams)
    parsed = action_network.parse_scoreboard(
        json.dumps(payload).encode(),
        make_meta("action_network", "scoreboard", _at("2025-07-03T12:00:00+00:00"), SLATE_PARAMS),
    )
    odds = parsed.frame("odds_quotes")
    assert odds.filter(~pl.col("is_opening")).get_column("in_play").all()
    assert not odds.filter(pl.col("is_opening")).get_column("in_play").any()


def test_the_running_boxscore_is_never_stored(fixtures_dir: Path, an_teams: dict) -> None:
    """Rule: ``boxscore``/``last_play`` are the running score of a game under way: labels at
    best, never stored from this source."""
    payload, _ = _board(fixtures_dir, an_teams)
    assert payload["games"][0]["boxscore"] is not None
    parsed = action_network.parse_scoreboard(
        json.dumps(payload).encode(),
        make_meta("action_network", "scoreboard", _at("2025-07-01T20:00:00+00:00"), SLATE_PARAMS),
    )
    assert set(parsed.frames) == {"source_games", "odds_quotes", "splits"}


def _history_meta(game: an.SlateGame, fetched: datetime) -> Any:
    context = {
        "event_id": game.event_id,
        "start_time": game.start_time.isoformat(),
        "away_team_id": 147,
        "home_team_id": 141,
    }
    return make_meta("action_network", "history", fetched, context=context)


def test_history_entries_are_observed_at_updated_at(fixtures_dir: Path) -> None:
    game = an.csv_slate(fixtures_dir)[0]
    payload = an.history(game)
    fetched = game.start_time + timedelta(hours=4)
    parsed = action_network.parse_history(json.dumps(payload).encode(), _history_meta(game, fetched))
    assert not parsed.quarantine
    odds = parsed.frame("odds_quotes")
    entries = [
        (outcome, entry)
        for book in payload.values()
        for outcomes in book["event"].values()
        for outcome in outcomes
        for entry in outcome["history"]
    ]
    assert odds.height == len(entries)
    expected_times = {game.start_time + timedelta(minutes=m) for m in (*an.HISTORY_OFFSETS, 45)}
    assert set(odds.get_column("observed_at").to_list()) == expected_times
    consensus_home = odds.filter(
        (pl.col("book") == "consensus") & (pl.col("market") == "moneyline") & (pl.col("side") == "home")
    ).sort("observed_at")
    assert consensus_home.height == len(an.HISTORY_OFFSETS)
    opening = odds.filter(pl.col("is_opening"))
    assert opening.get_column("observed_at").unique().to_list() == [game.start_time - timedelta(minutes=1200)]
    assert parsed.frame("source_games").select("away_team_id", "home_team_id").row(0) == (147, 141)


def test_history_entries_updated_after_first_pitch_are_in_play(fixtures_dir: Path) -> None:
    """Rule: a history entry is a pre-game price only if ``updated_at`` is before first pitch;
    entries at or after it, and live outcomes, are ``in_play``."""
    game = an.csv_slate(fixtures_dir)[0]
    parsed = action_network.parse_history(
        json.dumps(an.history(game)).encode(), _history_meta(game, game.start_time + timedelta(hours=5))
    )
    odds = parsed.frame("odds_quotes")
    after = odds.filter(pl.col("observed_at") >= game.start_time)
    before = odds.filter(pl.col("observed_at") < game.start_time)
    assert after.height > 0 and after.get_column("in_play").all()
    assert before.height > 0 and not before.get_column("in_play").any()
    assert odds.filter(pl.col("is_live")).get_column("in_play").all()


def test_history_observed_at_is_never_later_than_the_fetch(fixtures_dir: Path) -> None:
    game = an.csv_slate(fixtures_dir)[0]
    fetched = game.start_time - timedelta(minutes=60)  # a clock behind the payload's stamps
    parsed = action_network.parse_history(json.dumps(an.history(game)).encode(), _history_meta(game, fetched))
    assert parsed.frame("odds_quotes").get_column("observed_at").max() == fetched


def _nickname_to_mlb_id() -> dict[str, int]:
    # The derived file names teams by nickname ("Blue Jays", "Athletics"): the last one or two
    # words of the full name ("Sox" alone is ambiguous and not used by the file).
    return {" ".join(team.name.split()[-k:]): team.mlb_id for team in TEAMS for k in (1, 2)}


def test_matching_reproduces_the_real_an_to_gamepk_pairs(fixtures_dir: Path) -> None:
    """The real 2026-05-03 AN event -> gamePk pairs. The schedule side is built from that same
    file's own game_pk, teams and start times (it is the only real schedule for that day), with
    decoys added: a doubleheader game 2 for one pairing, the same pairing the next day, and a
    time shift of a few minutes on every game; one AN event has no MLB game at all."""
    derived = json.loads((fixtures_dir / DERIVED).read_text())
    names = _nickname_to_mlb_id()
    source, schedule = [], []
    for game in derived["games"]:
        start = _at(game["start_time"].replace("Z", "+00:00"))
        away, home = names[game["away_team"]], names[game["home_team"]]
        source.append(
            {
                "source": "action_network",
                "source_game_key": str(game["an_event_id"]),
                "game_date": date(2026, 5, 3),
                "start_time": start,
                "away_team_id": away,
                "home_team_id": home,
                "seq": None,
            }
        )
        schedule.append(
            {
                "game_pk": game["game_pk"],
                "official_date": date(2026, 5, 3),
                "game_date": start + timedelta(minutes=5),  # sources disagree by a few minutes
                "away_team_id": away,
                "home_team_id": home,
                "game_number": 1,
            }
        )
    first = schedule[0]
    schedule.append(
        first | {"game_pk": 900001, "game_date": first["game_date"] + timedelta(hours=4), "game_number": 2}
    )
    schedule.append(first | {"game_pk": 900002, "game_date": first["game_date"] + timedelta(days=1)})
    source.append(source[0] | {"source_game_key": "999999", "away_team_id": 147, "home_team_id": 110})
    matches = match_games(pl.DataFrame(source), pl.DataFrame(schedule)).sort("source_game_key")
    got = dict(
        matches.filter(pl.col("match_status") == "matched").select("source_game_key", "game_pk").rows()
    )
    expected = {str(g["an_event_id"]): g["game_pk"] for g in derived["games"]}
    assert got == expected  # all 15 real pairs, and nothing else
    lost = matches.filter(pl.col("source_game_key") == "999999").row(0, named=True)
    assert (
        lost["match_status"] == "unmatched"
        and lost["game_pk"] is None
        and "within 6.0 h" in lost["match_note"]
    )
