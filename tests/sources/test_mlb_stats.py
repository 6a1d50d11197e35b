"""MLB Stats API parsers on the real recorded payloads (read in place from shared/fixtures/sources)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from mlbedge.sources import mlb_stats
from tests.sources.conftest import make_meta

HYDRATED = "mlb_statsapi/schedule_2024-08-13_hydrate_person_probablePitcher_linescore.json"
PLAIN = "mlb_statsapi/schedule_2024-07-01.json"
OPENING_DAY = "mlb_statsapi/schedule_2022-04-07_opening_day.json"
FEED = "mlb_statsapi/feed_live_744914_2024-07-01.json"
STANDINGS = "mlb_statsapi/standings_2024_regularSeason.json"
TEAMS = "mlb_statsapi/teams_sportId1.json"
HYDRATE = {"hydrate": "person,probablePitcher,linescore()"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_hydrated_schedule_gives_utc_first_pitch_probables_and_labels(fixtures_dir: Path) -> None:
    """gameDate with a -05:00 offset (timeZone=America/Chicago) is normalised to UTC."""
    fetched = _at("2024-08-13T12:00:00+00:00")  # the morning of the games: a pre-game fetch
    parsed = mlb_stats.parse_schedule(
        (fixtures_dir / HYDRATED).read_bytes(), make_meta("mlb_stats", "schedule", fetched, HYDRATE)
    )
    schedule = parsed.frame("schedule")
    assert schedule.height == 15 and not parsed.quarantine
    first = schedule.filter(pl.col("game_pk") == 747004).row(0, named=True)
    assert first["game_date"] == _at("2024-08-13T22:35:00+00:00")  # 17:35-05:00
    assert (first["away_team_id"], first["home_team_id"]) == (120, 110)
    assert (
        first["official_date"] == date(2024, 8, 13) and first["venue_name"] == "Oriole Park at Camden Yards"
    )
    assert first["observed_at"] == fetched  # the schedule has no time of its own
    probables = parsed.frame("probable_pitchers").filter(pl.col("game_pk") == 747004).sort("side")
    assert probables.select("side", "pitcher_id", "pitcher_name", "pitch_hand").rows() == [
        ("away", 663623, "Jake Irvin", "R"),
        ("home", 669432, "Trevor Rogers", "L"),
    ]
    results = parsed.frame("results").filter(pl.col("game_pk") == 747004).row(0, named=True)
    assert (results["away_score"], results["home_score"], results["is_final"]) == (9, 3, True)


def test_plain_schedule_without_hydration_has_no_probable_rows(fixtures_dir: Path) -> None:
    fetched = _at("2024-07-01T12:00:00+00:00")
    parsed = mlb_stats.parse_schedule(
        (fixtures_dir / PLAIN).read_bytes(), make_meta("mlb_stats", "schedule", fetched)
    )
    assert sorted(parsed.frame("schedule").get_column("game_pk").to_list()) == [744840, 744914, 746535]
    assert parsed.frame("probable_pitchers").is_empty()  # not asked for, so nothing is claimed


def test_postponed_games_keep_status_and_have_no_result(fixtures_dir: Path) -> None:
    fetched = _at("2022-04-07T12:00:00+00:00")
    parsed = mlb_stats.parse_schedule(
        (fixtures_dir / OPENING_DAY).read_bytes(), make_meta("mlb_stats", "schedule", fetched)
    )
    schedule = parsed.frame("schedule")
    assert schedule.height == 9
    postponed = schedule.filter(pl.col("detailed_state") == "Postponed")
    assert sorted(postponed.get_column("game_pk").to_list()) == [661333, 661750]
    assert postponed.get_column("coded_state").to_list() == ["D", "D"]
    assert postponed.filter(pl.col("game_pk") == 661333).get_column("reschedule_game_date").to_list() == [
        _at("2022-04-08T17:05:00+00:00")
    ]
    results = parsed.frame("results")
    assert not set(results.get_column("game_pk").to_list()) & {661333, 661750}
    assert results.height == 7 and results.get_column("is_final").all()


def test_mlb_league_record_fetched_after_the_game_is_never_stored(fixtures_dir: Path) -> None:
    """Rule: ``teams.*.leagueRecord`` is the record at fetch time (after the game for a finished
    one: opening-day winners already show 1-0, a postponed game shows the next day's record), so
    it is never stored as a pre-game fact. Records come from ``standings?date=<day before>``."""
    body = (fixtures_dir / OPENING_DAY).read_bytes()
    raw = json.loads(body)
    leaked = raw["dates"][0]["games"][0]["teams"]["home"]["leagueRecord"]
    assert leaked == {"wins": 1, "losses": 0, "pct": "1.000"}  # the trap is in the payload
    parsed = mlb_stats.parse_schedule(
        body, make_meta("mlb_stats", "schedule", _at("2022-04-09T00:00:00+00:00"))
    )
    columns = {c for frame in parsed.frames.values() for c in frame.columns}
    assert not any("record" in c or c in {"wins", "losses", "pct"} for c in columns)


def test_scores_and_linescore_are_labels_only(fixtures_dir: Path) -> None:
    """Rule: ``score``, ``isWinner`` and ``linescore`` are outcomes: they go only to
    ``staging.results`` (labels), never into the schedule or probable-pitcher snapshots."""
    parsed = mlb_stats.parse_schedule(
        (fixtures_dir / HYDRATED).read_bytes(),
        make_meta("mlb_stats", "schedule", _at("2024-08-14T09:00:00+00:00"), HYDRATE),
    )
    for table in ("schedule", "probable_pitchers"):
        columns = set(parsed.frame(table).columns)
        assert not columns & {"away_score", "home_score", "is_winner", "innings", "is_final"}, table
    assert parsed.frame("results").height == 15


def test_probables_from_a_schedule_fetched_after_first_pitch_are_in_play(fixtures_dir: Path) -> None:
    """Rule: a probable pitcher is only a pre-game fact when it was listed before first pitch;
    a schedule fetched later shows whoever was listed last, so its rows are ``in_play``."""
    body = (fixtures_dir / HYDRATED).read_bytes()
    before = mlb_stats.parse_schedule(
        body, make_meta("mlb_stats", "schedule", _at("2024-08-13T12:00:00+00:00"), HYDRATE)
    )
    after = mlb_stats.parse_schedule(
        body, make_meta("mlb_stats", "schedule", _at("2024-08-14T09:00:00+00:00"), HYDRATE)
    )
    # This recording was made after the games (status Final): every row is in play either way.
    assert before.frame("probable_pitchers").get_column("in_play").all()
    assert after.frame("probable_pitchers").get_column("in_play").all()
    # The same games listed as scheduled and fetched in the morning are pre-game facts.
    raw = json.loads(body)
    for block in raw["dates"]:
        for game in block["games"]:
            game["status"] = {
                "abstractGameState": "Preview",
                "codedGameState": "S",
                "detailedState": "Scheduled",
            }
    morning = mlb_stats.parse_schedule(
        json.dumps(raw).encode(),
        make_meta("mlb_stats", "schedule", _at("2024-08-13T12:00:00+00:00"), HYDRATE),
    )
    assert not morning.frame("probable_pitchers").get_column("in_play").any()
    # ... and fetched between first pitches, only the games already begun are in play.
    evening = mlb_stats.parse_schedule(
        json.dumps(raw).encode(),
        make_meta("mlb_stats", "schedule", _at("2024-08-13T22:45:00+00:00"), HYDRATE),
    )
    started = (
        evening.frame("probable_pitchers").filter(pl.col("in_play")).get_column("game_pk").unique().sort()
    )
    assert started.to_list() == [745548, 746435, 746601, 746673, 747004]  # 22:35Z and 22:40Z starts


def test_feed_live_uses_metadata_timestamp_and_is_label_data(fixtures_dir: Path) -> None:
    """Rule: the live feed's observation time is ``metaData.timeStamp`` (its last update); a
    feed of a finished game is label data: its probables are in play, its result a label."""
    fetched = _at("2025-01-01T00:00:00+00:00")
    parsed = mlb_stats.parse_feed_live(
        (fixtures_dir / FEED).read_bytes(), make_meta("mlb_stats", "feed_live", fetched)
    )
    stamp = _at("2024-07-01T21:44:04+00:00")  # "20240701_214404"
    result = parsed.frame("results").row(0, named=True)
    assert result["observed_at"] == stamp
    assert (result["away_score"], result["home_score"], result["is_final"], result["innings"]) == (
        3,
        1,
        True,
        9,
    )
    assert (result["away_starter_id"], result["home_starter_id"]) == (686613, 684320)
    assert (result["winning_pitcher_id"], result["losing_pitcher_id"]) == (686613, 684320)
    schedule = parsed.frame("schedule").row(0, named=True)
    assert schedule["game_date"] == _at("2024-07-01T19:07:00+00:00")
    assert (schedule["weather_condition"], schedule["weather_temp"]) == ("Sunny", 69)
    assert parsed.frame("probable_pitchers").get_column("in_play").all()


def test_feed_timestamp_never_later_than_the_fetch(fixtures_dir: Path) -> None:
    fetched = _at("2024-07-01T20:00:00+00:00")  # a clock behind the feed's own stamp
    parsed = mlb_stats.parse_feed_live(
        (fixtures_dir / FEED).read_bytes(), make_meta("mlb_stats", "feed_live", fetched)
    )
    assert parsed.frame("results").get_column("observed_at").to_list() == [fetched]


def test_standings_rows_with_splits_and_through_date(fixtures_dir: Path) -> None:
    fetched = _at("2024-09-30T12:00:00+00:00")
    parsed = mlb_stats.parse_standings(
        (fixtures_dir / STANDINGS).read_bytes(),
        make_meta("mlb_stats", "standings", fetched, {"season": "2024", "date": "2024-09-29"}),
    )
    standings = parsed.frame("standings")
    assert standings.height == 30 and not parsed.quarantine
    yankees = standings.filter(pl.col("team_id") == 147).row(0, named=True)
    assert (yankees["wins"], yankees["losses"], yankees["runs_scored"], yankees["runs_allowed"]) == (
        94,
        68,
        815,
        668,
    )
    assert (yankees["home_wins"], yankees["home_losses"], yankees["last_ten_wins"]) == (44, 37, 5)
    assert yankees["through_date"] == date(2024, 9, 29) and yankees["observed_at"] == fetched
    assert (
        standings.select((pl.col("wins") + pl.col("losses")).sum()).item() == 30 * 162 - 2
    )  # 2,429 games: one was never made up


def test_teams_are_the_thirty_clubs_with_current_abbreviations(fixtures_dir: Path) -> None:
    parsed = mlb_stats.parse_teams(
        (fixtures_dir / TEAMS).read_bytes(), make_meta("mlb_stats", "teams", _at("2025-01-01T00:00:00+00:00"))
    )
    teams = parsed.frame("mlb_teams")
    assert teams.height == 30 and not parsed.quarantine
    abbr = dict(teams.select("team_id", "abbreviation").rows())
    assert abbr[109] == "AZ" and abbr[133] == "ATH"


def test_final_game_pks_picks_completed_games_of_the_day(fixtures_dir: Path) -> None:
    parsed = mlb_stats.parse_schedule(
        (fixtures_dir / OPENING_DAY).read_bytes(),
        make_meta("mlb_stats", "schedule", _at("2022-04-08T12:00:00+00:00")),
    )
    finals = mlb_stats.final_game_pks(parsed, date(2022, 4, 7))
    assert len(finals) == 7 and 661333 not in finals  # postponed (coded D) is not final
