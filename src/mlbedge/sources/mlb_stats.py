"""MLB Stats API: schedule (probable pitchers), live feed (results, starters), standings, teams.

The schedule is the spine: its ``gamePk`` is what every other source's games link to. Timestamp
rules (fixtures/sources/SOURCES.md section 1.4): the schedule, standings and teams carry no usable
time of their own, so ``observed_at`` is the fetch time; the live feed has ``metaData.timeStamp``.
Leakage: ``leagueRecord`` is the record at fetch time (after the game for a finished one) and is
never stored; ``score``, ``isWinner`` and ``linescore`` go to ``staging.results`` (labels only);
probable pitchers and schedule rows fetched once the game had started are marked ``in_play``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from mlbedge.domain.teams import by_mlb_id
from mlbedge.settings import Settings
from mlbedge.sources.http import Request
from mlbedge.sources.snapshots import (
    ITEM_ERRORS,
    BadItem,
    FetchMeta,
    ParsedPayload,
    QuarantinedItem,
    SourceParseError,
    collect_parts,
    day,
    integer,
    load_json,
    obj,
    observed,
    required,
    snippet,
    text,
    timestamp,
)

SOURCE = "mlb_stats"
LIVE_STATES = frozenset({"Live", "Final"})  # abstractGameState once the first pitch is past
FINAL_CODES = frozenset({"F", "O"})  # codedGameState of a completed game (D = postponed is not)


class MlbStatsParseError(SourceParseError):
    """An MLB Stats API payload that cannot be parsed at all."""

    source = SOURCE


# ---- requests ----------------------------------------------------------------------------


def schedule_request(settings: Settings, start: date, end: date) -> Request:
    """Schedule for ``start``..``end`` (UTC ``gameDate``), with probable pitchers and linescore."""
    return Request(
        SOURCE,
        "schedule",
        f"{settings.mlb_stats_base_url.rstrip('/')}/api/v1/schedule",
        params={
            "sportId": "1",
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "hydrate": "probablePitcher,linescore",
        },
    )


def feed_live_request(settings: Settings, game_pk: int) -> Request:
    """The v1.1 live feed of one game (final score, actual starters, decisions)."""
    return Request(
        SOURCE,
        "feed_live",
        f"{settings.mlb_stats_base_url.rstrip('/')}/api/v1.1/game/{int(game_pk)}/feed/live",
        context={"game_pk": int(game_pk)},
    )


def standings_request(settings: Settings, season: int, through: date | None) -> Request:
    """Regular-season standings of both leagues, as of ``through`` (end of that day) when given."""
    params = {"leagueId": "103,104", "season": str(season), "standingsTypes": "regularSeason"}
    if through is not None:
        params["date"] = through.isoformat()
    return Request(
        SOURCE, "standings", f"{settings.mlb_stats_base_url.rstrip('/')}/api/v1/standings", params=params
    )


def teams_request(settings: Settings, season: int) -> Request:
    """The 30 MLB clubs of ``season`` (``sportId=1`` leaves the minor leagues out)."""
    return Request(
        SOURCE,
        "teams",
        f"{settings.mlb_stats_base_url.rstrip('/')}/api/v1/teams",
        params={"sportId": "1", "season": str(season)},
    )


# ---- parsers -----------------------------------------------------------------------------


def _team_id(side: Mapping[str, Any], where: str) -> int:
    team = obj(required(side, "team", where), f"{where}.team")
    team_id = integer(required(team, "id", f"{where}.team"), f"{where}.team.id")
    by_mlb_id(int(team_id or 0))  # an id no franchise has is an UnknownTeamError -> quarantine
    return int(team_id or 0)


def _hydrated(meta: FetchMeta, what: str) -> bool:
    return what.lower() in str(meta.params.get("hydrate", "")).lower()


def _schedule_game(game: object, meta: FetchMeta, where: str) -> dict[str, list[dict[str, Any]]]:
    game = obj(game, where)
    game_pk = integer(required(game, "gamePk", where), f"{where}.gamePk", lo=1)
    where = f"gamePk {game_pk}"
    first_pitch = timestamp(required(game, "gameDate", where), f"{where}.gameDate")
    status = obj(required(game, "status", where), f"{where}.status")
    teams = obj(required(game, "teams", where), f"{where}.teams")
    away = obj(required(teams, "away", where), f"{where}.teams.away")
    home = obj(required(teams, "home", where), f"{where}.teams.home")
    venue = game.get("venue") if isinstance(game.get("venue"), Mapping) else {}
    seen = meta.fetched_at
    abstract = text(status.get("abstractGameState"), f"{where}.status.abstractGameState")
    coded = text(status.get("codedGameState"), f"{where}.status.codedGameState")
    in_play = abstract in LIVE_STATES or seen >= first_pitch
    reschedule = game.get("rescheduleDate")  # the new first pitch (rescheduleGameDate is a date)
    schedule = {
        "game_pk": game_pk,
        "origin": "schedule",
        "observed_at": seen,
        "official_date": day(required(game, "officialDate", where), f"{where}.officialDate"),
        "game_date": first_pitch,
        "game_type": text(game.get("gameType"), f"{where}.gameType"),
        "season": integer(game.get("season"), f"{where}.season", lo=1869, hi=3000),
        "abstract_state": abstract,
        "coded_state": coded,
        "detailed_state": text(status.get("detailedState"), f"{where}.status.detailedState"),
        "status_code": text(status.get("statusCode"), f"{where}.status.statusCode"),
        "start_time_tbd": status.get("startTimeTBD") is True,
        "double_header": text(game.get("doubleHeader"), f"{where}.doubleHeader"),
        "game_number": integer(game.get("gameNumber"), f"{where}.gameNumber", lo=1, hi=9),
        "away_team_id": _team_id(away, f"{where}.teams.away"),
        "home_team_id": _team_id(home, f"{where}.teams.home"),
        "venue_id": integer(venue.get("id"), f"{where}.venue.id"),
        "venue_name": text(venue.get("name"), f"{where}.venue.name"),
        "day_night": text(game.get("dayNight"), f"{where}.dayNight"),
        "scheduled_innings": integer(game.get("scheduledInnings"), f"{where}.scheduledInnings", hi=99),
        "reschedule_game_date": timestamp(reschedule, f"{where}.rescheduleDate") if reschedule else None,
        "in_play": in_play,
    }
    probables = []
    if _hydrated(meta, "probablePitcher"):
        for side_name, side in (("away", away), ("home", home)):
            pitcher = side.get("probablePitcher")
            # An absent probable after hydration is a fact too: the club has not announced one.
            row = {"game_pk": game_pk, "side": side_name, "origin": "schedule", "observed_at": seen}
            row["in_play"] = in_play
            if isinstance(pitcher, Mapping):
                row["pitcher_id"] = integer(pitcher.get("id"), f"{where}.{side_name}.probablePitcher.id")
                row["pitcher_name"] = text(
                    pitcher.get("fullName"), f"{where}.{side_name}.probablePitcher.fullName"
                )
                hand = pitcher.get("pitchHand")
                row["pitch_hand"] = (
                    text(hand.get("code"), "pitchHand.code") if isinstance(hand, Mapping) else None
                )
            probables.append(row)
    results = []
    if away.get("score") is not None or home.get("score") is not None:
        linescore = game.get("linescore") if isinstance(game.get("linescore"), Mapping) else {}
        results.append(
            {
                "game_pk": game_pk,
                "origin": "schedule",
                "observed_at": seen,
                "away_score": integer(away.get("score"), f"{where}.teams.away.score", hi=999),
                "home_score": integer(home.get("score"), f"{where}.teams.home.score", hi=999),
                "is_final": abstract == "Final" and coded in FINAL_CODES,
                "detailed_state": schedule["detailed_state"],
                "innings": integer(linescore.get("currentInning"), f"{where}.linescore.currentInning", hi=99),
            }
        )
    return {"schedule": [schedule], "probable_pitchers": probables, "results": results}


def parse_schedule(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``/api/v1/schedule`` -> schedule rows, probable pitchers (when hydrated) and results (labels)."""
    data = load_json(body, MlbStatsParseError, "schedule")
    if not isinstance(data, Mapping) or not isinstance(data.get("dates"), list):
        raise MlbStatsParseError("schedule", "no 'dates' list at the top level")
    parts, quarantine = [], []
    for i, block in enumerate(data["dates"]):
        games = block.get("games") if isinstance(block, Mapping) else None
        if not isinstance(games, list):
            quarantine.append(QuarantinedItem(f"dates[{i}]", "no 'games' list", snippet(block)))
            continue
        for j, game in enumerate(games):
            where = f"dates[{i}].games[{j}]"
            try:
                parts.append(_schedule_game(game, meta, where))
            except ITEM_ERRORS as exc:
                key = f"gamePk {game.get('gamePk')}" if isinstance(game, Mapping) else where
                quarantine.append(QuarantinedItem(key, str(exc), snippet(game)))
    return collect_parts(parts, quarantine, MlbStatsParseError, "frame")


def feed_timestamp(value: object) -> datetime | None:
    """``metaData.timeStamp`` ("YYYYMMDD_HHMMSS", UTC) as an aware datetime; None if unusable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _feed_game(data: Mapping[str, Any], meta: FetchMeta) -> dict[str, list[dict[str, Any]]]:
    game_pk = integer(required(data, "gamePk", "feed"), "gamePk", lo=1)
    where = f"gamePk {game_pk}"
    meta_data = data.get("metaData") if isinstance(data.get("metaData"), Mapping) else {}
    seen = observed(feed_timestamp(meta_data.get("timeStamp")), meta.fetched_at)
    game_data = obj(required(data, "gameData", where), f"{where}.gameData")
    when = obj(required(game_data, "datetime", where), f"{where}.gameData.datetime")
    first_pitch = timestamp(required(when, "dateTime", where), f"{where}.gameData.datetime.dateTime")
    status = obj(required(game_data, "status", where), f"{where}.gameData.status")
    teams = obj(required(game_data, "teams", where), f"{where}.gameData.teams")
    info = game_data.get("game") if isinstance(game_data.get("game"), Mapping) else {}
    venue = game_data.get("venue") if isinstance(game_data.get("venue"), Mapping) else {}
    weather = game_data.get("weather") if isinstance(game_data.get("weather"), Mapping) else {}
    abstract = text(status.get("abstractGameState"), f"{where}.status.abstractGameState")
    coded = text(status.get("codedGameState"), f"{where}.status.codedGameState")
    in_play = abstract in LIVE_STATES or seen >= first_pitch
    team_ids = {}
    for side in ("away", "home"):
        team = obj(required(teams, side, where), f"{where}.gameData.teams.{side}")
        team_ids[side] = integer(required(team, "id", where), f"{where}.gameData.teams.{side}.id")
        by_mlb_id(int(team_ids[side] or 0))
    try:
        temp = integer(weather.get("temp"), "weather.temp", lo=-60, hi=150)
    except BadItem:
        temp = None  # weather text is free-form; a bad temperature is not worth the game
    schedule = {
        "game_pk": game_pk,
        "origin": "feed_live",
        "observed_at": seen,
        "official_date": day(
            when.get("officialDate") or game_data.get("officialDate"), f"{where}.officialDate"
        ),
        "game_date": first_pitch,
        "game_type": text(info.get("type"), f"{where}.game.type"),
        "season": integer(info.get("season"), f"{where}.game.season", lo=1869, hi=3000),
        "abstract_state": abstract,
        "coded_state": coded,
        "detailed_state": text(status.get("detailedState"), f"{where}.status.detailedState"),
        "status_code": text(status.get("statusCode"), f"{where}.status.statusCode"),
        "start_time_tbd": status.get("startTimeTBD") is True,
        "double_header": text(info.get("doubleHeader"), f"{where}.game.doubleHeader"),
        "game_number": integer(info.get("gameNumber"), f"{where}.game.gameNumber", lo=1, hi=9),
        "away_team_id": team_ids["away"],
        "home_team_id": team_ids["home"],
        "venue_id": integer(venue.get("id"), f"{where}.venue.id"),
        "venue_name": text(venue.get("name"), f"{where}.venue.name"),
        "day_night": text(when.get("dayNight"), f"{where}.dayNight"),
        "weather_condition": text(weather.get("condition"), f"{where}.weather.condition"),
        "weather_temp": temp,
        "weather_wind": text(weather.get("wind"), f"{where}.weather.wind"),
        "in_play": in_play,
    }
    probables = []
    listed = game_data.get("probablePitchers")
    listed = listed if isinstance(listed, Mapping) else {}
    for side in ("away", "home"):
        pitcher = listed.get(side)
        row = {
            "game_pk": game_pk,
            "side": side,
            "origin": "feed_live",
            "observed_at": seen,
            "in_play": in_play,
        }
        if isinstance(pitcher, Mapping):
            row["pitcher_id"] = integer(pitcher.get("id"), f"{where}.probablePitchers.{side}.id")
            row["pitcher_name"] = text(pitcher.get("fullName"), f"{where}.probablePitchers.{side}.fullName")
        probables.append(row)
    results = []
    live = data.get("liveData") if isinstance(data.get("liveData"), Mapping) else {}
    linescore = live.get("linescore") if isinstance(live.get("linescore"), Mapping) else {}
    line_teams = linescore.get("teams") if isinstance(linescore.get("teams"), Mapping) else {}
    if abstract in LIVE_STATES and line_teams:
        box = live.get("boxscore") if isinstance(live.get("boxscore"), Mapping) else {}
        box_teams = box.get("teams") if isinstance(box.get("teams"), Mapping) else {}
        starters: dict[str, int | None] = {}
        for side in ("away", "home"):
            pitchers = (
                box_teams.get(side, {}).get("pitchers") if isinstance(box_teams.get(side), Mapping) else None
            )
            first = pitchers[0] if isinstance(pitchers, list) and pitchers else None
            starters[side] = integer(first, f"{where}.boxscore.{side}.pitchers[0]")
        decisions = live.get("decisions") if isinstance(live.get("decisions"), Mapping) else {}

        def _decision(name: str) -> int | None:
            person = decisions.get(name)
            return (
                integer(person.get("id"), f"{where}.decisions.{name}.id")
                if isinstance(person, Mapping)
                else None
            )

        innings = linescore.get("innings")
        results.append(
            {
                "game_pk": game_pk,
                "origin": "feed_live",
                "observed_at": seen,
                "away_score": integer(
                    obj(line_teams.get("away"), "linescore.away").get("runs"), "away.runs", hi=999
                ),
                "home_score": integer(
                    obj(line_teams.get("home"), "linescore.home").get("runs"), "home.runs", hi=999
                ),
                "is_final": abstract == "Final" and coded in FINAL_CODES,
                "detailed_state": schedule["detailed_state"],
                "innings": len(innings) if isinstance(innings, list) else None,
                "away_starter_id": starters["away"],
                "home_starter_id": starters["home"],
                "winning_pitcher_id": _decision("winner"),
                "losing_pitcher_id": _decision("loser"),
            }
        )
    return {"schedule": [schedule], "probable_pitchers": probables, "results": results}


def parse_feed_live(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``/api/v1.1/game/{pk}/feed/live`` -> schedule facts, listed probables, final result and starters.

    ``observed_at`` is ``metaData.timeStamp`` (the feed's last update), never later than the fetch.
    A feed of a finished game is label data: its rows are ``in_play`` and its result a label.
    """
    data = load_json(body, MlbStatsParseError, "feed_live")
    if not isinstance(data, Mapping) or "gameData" not in data:
        raise MlbStatsParseError("feed_live", "no 'gameData' object at the top level")
    try:
        part = _feed_game(data, meta)
    except ITEM_ERRORS as exc:
        key = f"gamePk {data.get('gamePk')}"
        return ParsedPayload(
            quarantine=[QuarantinedItem(key, str(exc), snippet(data.get("gameData"))[:2000])]
        )
    return collect_parts([part], [], MlbStatsParseError, "frame")


def _split(records: object, kind: str) -> tuple[int | None, int | None]:
    if isinstance(records, list):
        for record in records:
            if isinstance(record, Mapping) and record.get("type") == kind:
                return (
                    integer(record.get("wins"), f"splitRecords.{kind}.wins", hi=200),
                    integer(record.get("losses"), f"splitRecords.{kind}.losses", hi=200),
                )
    return None, None


def _standing(
    record: Mapping[str, Any], division: Mapping[str, Any], meta: FetchMeta, where: str
) -> dict[str, Any]:
    team_id = _team_id(record, where)
    where = f"{where} team {team_id}"
    splits = (
        record.get("records", {}).get("splitRecords") if isinstance(record.get("records"), Mapping) else None
    )
    home_w, home_l = _split(splits, "home")
    away_w, away_l = _split(splits, "away")
    ten_w, ten_l = _split(splits, "lastTen")
    streak = record.get("streak") if isinstance(record.get("streak"), Mapping) else {}
    through = meta.params.get("date")
    season = record.get("season") or meta.params.get("season")
    updated = record.get("lastUpdated")
    return {
        "season": integer(season, f"{where}.season", lo=1869, hi=3000),
        "standings_type": text(division.get("standingsType"), "standingsType") or "regularSeason",
        "team_id": team_id,
        "observed_at": meta.fetched_at,
        "through_date": day(through, "params.date") if through else None,
        "league_id": integer((division.get("league") or {}).get("id"), f"{where}.league.id"),
        "division_id": integer((division.get("division") or {}).get("id"), f"{where}.division.id"),
        "wins": integer(required(record, "wins", where), f"{where}.wins", hi=200),
        "losses": integer(required(record, "losses", where), f"{where}.losses", hi=200),
        "runs_scored": integer(record.get("runsScored"), f"{where}.runsScored", hi=5000),
        "runs_allowed": integer(record.get("runsAllowed"), f"{where}.runsAllowed", hi=5000),
        "games_back": text(record.get("gamesBack"), f"{where}.gamesBack"),
        "wild_card_games_back": text(record.get("wildCardGamesBack"), f"{where}.wildCardGamesBack"),
        "division_rank": integer(record.get("divisionRank"), f"{where}.divisionRank", hi=99),
        "streak_code": text(streak.get("streakCode"), f"{where}.streak.streakCode"),
        "home_wins": home_w,
        "home_losses": home_l,
        "away_wins": away_w,
        "away_losses": away_l,
        "last_ten_wins": ten_w,
        "last_ten_losses": ten_l,
        "last_updated": timestamp(updated, f"{where}.lastUpdated") if updated else None,
    }


def parse_standings(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``/api/v1/standings`` -> one row per team (W-L, runs, home/away/last-ten splits).

    ``through_date`` is the ``date=`` asked for; ``observed_at`` is the fetch time.
    """
    data = load_json(body, MlbStatsParseError, "standings")
    if not isinstance(data, Mapping) or not isinstance(data.get("records"), list):
        raise MlbStatsParseError("standings", "no 'records' list at the top level")
    rows, quarantine = [], []
    for i, division in enumerate(data["records"]):
        team_records = division.get("teamRecords") if isinstance(division, Mapping) else None
        if not isinstance(team_records, list):
            quarantine.append(QuarantinedItem(f"records[{i}]", "no 'teamRecords' list", snippet(division)))
            continue
        for j, record in enumerate(team_records):
            where = f"records[{i}].teamRecords[{j}]"
            try:
                rows.append(_standing(obj(record, where), division, meta, where))
            except ITEM_ERRORS as exc:
                quarantine.append(QuarantinedItem(where, str(exc), snippet(record)))
    return collect_parts([{"standings": rows}], quarantine, MlbStatsParseError, "frame")


def parse_teams(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``/api/v1/teams`` -> the clubs as MLB names them now (abbreviations change: AZ, ATH)."""
    data = load_json(body, MlbStatsParseError, "teams")
    if not isinstance(data, Mapping) or not isinstance(data.get("teams"), list):
        raise MlbStatsParseError("teams", "no 'teams' list at the top level")
    rows, quarantine = [], []
    for i, team in enumerate(data["teams"]):
        where = f"teams[{i}]"
        try:
            team = obj(team, where)
            team_id = integer(required(team, "id", where), f"{where}.id")
            by_mlb_id(int(team_id or 0))
            league = team.get("league") if isinstance(team.get("league"), Mapping) else {}
            division = team.get("division") if isinstance(team.get("division"), Mapping) else {}
            venue = team.get("venue") if isinstance(team.get("venue"), Mapping) else {}
            rows.append(
                {
                    "team_id": team_id,
                    "observed_at": meta.fetched_at,
                    "abbreviation": text(team.get("abbreviation"), f"{where}.abbreviation"),
                    "name": text(team.get("name"), f"{where}.name"),
                    "team_name": text(team.get("teamName"), f"{where}.teamName"),
                    "location_name": text(team.get("locationName"), f"{where}.locationName"),
                    "league_id": integer(league.get("id"), f"{where}.league.id"),
                    "division_id": integer(division.get("id"), f"{where}.division.id"),
                    "venue_id": integer(venue.get("id"), f"{where}.venue.id"),
                    "active": team.get("active") is not False,
                }
            )
        except ITEM_ERRORS as exc:
            quarantine.append(QuarantinedItem(where, str(exc), snippet(team)))
    return collect_parts([{"mlb_teams": rows}], quarantine, MlbStatsParseError, "frame")


PARSERS = {
    "schedule": parse_schedule,
    "feed_live": parse_feed_live,
    "standings": parse_standings,
    "teams": parse_teams,
}


def final_game_pks(parsed: ParsedPayload, official_date: date) -> list[int]:
    """Games of ``official_date`` that the schedule shows as completed (their feed holds the result)."""
    frame = parsed.frame("schedule")
    if frame.is_empty():
        return []
    return (
        frame.filter(
            (pl.col("official_date") == official_date)
            & (pl.col("abstract_state") == "Final")
            & pl.col("coded_state").is_in(list(FINAL_CODES))
        )
        .get_column("game_pk")
        .unique()
        .sort()
        .to_list()
    )
