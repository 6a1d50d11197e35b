"""SportsBettingDime: the odds widget (``adpt/v1/mlb-odds``, opening and current lines per book) and
the Sportradar-feed betting splits (``srfeeds v2 matchups``, bet counts and percentages).

Timestamp rules (fixtures/sources/SOURCES.md section 4.4): splits carry
``bettingSplits.<market>.updated``, their observation time; lines carry no time, so they are
observed at the fetch. ``opening_*`` prices are the opening line, a pre-game fact whenever read.
Leakage: splits updated at or after first pitch are ``in_play`` (one game of the recorded feed
was already under way); ``home.record``/``away.record`` is the record at fetch time and is never
stored; a game not ``not_started`` at fetch, or fetched after first pitch, has in-play lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlbedge.domain.teams import Team, TeamSource, UnknownTeamError, resolve
from mlbedge.settings import Settings
from mlbedge.sources.http import Request
from mlbedge.sources.snapshots import (
    ITEM_ERRORS,
    BadItem,
    FetchMeta,
    ParsedPayload,
    QuarantinedItem,
    SourceParseError,
    american,
    collect_parts,
    day,
    integer,
    line_value,
    load_json,
    obj,
    observed,
    percent,
    required,
    snippet,
    timestamp,
)

SOURCE = "sbd"
SPLITS_BOOK = "sbd"  # SBD's splits are its own aggregate, not one book's
#: Sportradar book ids of the widget (section 4.2); unknown ids are kept as ``sr_<id>``
SR_BOOKS = {
    17324: "betmgm",
    18149: "draftkings",
    18186: "fanduel",
    27447: "betrivers",
    28901: "bet365",
    32219: "caesars",
    6: "unibet",
    7612: "betway",
    27769: "pointsbet",
}
WIDGET_BOOKS = "sr:book:17324,sr:book:18149,sr:book:27447,sr:book:28901,sr:book:32219,sr:book:18186"
FEED_BOOKS = "betmgm,bet365,fanatics,draftkings,caesars,fanduel"
MARKETS = {"moneyline": "moneyline", "spread": "runline", "total": "total"}
HEADERS = {
    "Accept": "application/json",
    "Referer": "https://www.sportsbettingdime.com/mlb/public-betting-trends/",
}


class SbdParseError(SourceParseError):
    """An SBD payload that cannot be parsed at all."""

    source = SOURCE


# ---- requests ----------------------------------------------------------------------------


def odds_request(settings: Settings) -> Request:
    """The odds-and-splits widget feed (shape A): current and opening lines for six books."""
    return Request(
        SOURCE,
        "mlb_odds",
        f"{settings.sbd_base_url.rstrip('/')}/wp-json/adpt/v1/mlb-odds",
        params={"books": WIDGET_BOOKS, "format": "us"},
        headers=HEADERS,
    )


def splits_request(settings: Settings) -> Request:
    """The Sportradar-feed matchups with betting splits (shape B): bet counts, no opening lines."""
    return Request(
        SOURCE,
        "betting_splits",
        f"{settings.sbd_feeds_base_url.rstrip('/')}/v2/matchups/mlb/betting-splits",
        params={"books": FEED_BOOKS},
        headers=HEADERS,
    )


# ---- shared ------------------------------------------------------------------------------


def _team(code: object, fallback_name: str | None, where: str) -> Team:
    if isinstance(code, str) and code.strip():
        try:
            return resolve(TeamSource.SBD, code, where=where)
        except UnknownTeamError:
            if not fallback_name:
                raise
    if fallback_name:
        return resolve(TeamSource.NAME, fallback_name, where=where)
    raise UnknownTeamError("sbd", code, where)


def _splits(
    splits: object, key: str, start: datetime, fetched_at: datetime, where: str
) -> list[dict[str, Any]]:
    """Rows of ``bettingSplits`` (shapes A and B): observed at ``updated``, never after the fetch."""
    if splits is None:
        return []
    rows = []
    for sbd_market, market in MARKETS.items():
        block = obj(splits, f"{where}.bettingSplits").get(sbd_market)
        if block is None:
            continue
        block = obj(block, f"{where}.bettingSplits.{sbd_market}")
        updated = block.get("updated")
        # Without its own time a split can only be dated by the fetch.
        seen = (
            observed(timestamp(updated, f"{where}.bettingSplits.{sbd_market}.updated"), fetched_at)
            if updated
            else fetched_at
        )
        sides = ("over", "under") if market == "total" else ("home", "away")
        for side in sides:
            values = block.get(side)
            if values is None:
                continue
            values = obj(values, f"{where}.bettingSplits.{sbd_market}.{side}")
            field = f"{where}.bettingSplits.{sbd_market}.{side}"
            bets = percent(values.get("betsPercentage"), f"{field}.betsPercentage")
            money = percent(values.get("stakePercentage"), f"{field}.stakePercentage")
            count = integer(values.get("bets"), f"{field}.bets", hi=10**9)
            if bets is None and money is None and count is None:
                continue
            rows.append(
                {
                    "source": SOURCE,
                    "source_game_key": key,
                    "book": SPLITS_BOOK,
                    "market": market,
                    "side": side,
                    "bets_pct": bets,
                    "money_pct": money,
                    "bet_count": count,
                    "in_play": seen >= start,
                    "observed_at": seen,
                }
            )
    return rows


def _games(data: object, endpoint: str, list_key: str) -> list[Any]:
    # The browser-capture wrapper ``[{url, body}]`` is unwrapped so a recorded capture parses too.
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], Mapping) and "body" in data[0]:
        data = data[0]["body"]
    if not isinstance(data, Mapping) or not isinstance(data.get(list_key), list):
        raise SbdParseError(endpoint, f"no {list_key!r} list at the top level")
    return data[list_key]


# ---- shape A: wp-json adpt/v1/mlb-odds ----------------------------------------------------


def _sr_book(book: Mapping[str, Any], where: str) -> str:
    raw = str(required(book, "id", where))
    match = re.fullmatch(r"sr:book:(\d{1,12})", raw.strip())
    if match is None:
        raise BadItem(f"{where}.id: not a Sportradar book id: {raw!r}")
    number = int(match.group(1))
    return SR_BOOKS.get(number, f"sr_{number}")


def _widget_game(
    game: object, meta: FetchMeta, where: str, quarantine: list[QuarantinedItem]
) -> dict[str, list]:
    game = obj(game, where)
    key = required(game, "id", where)
    if not isinstance(key, str) or not key.strip():
        raise BadItem(f"{where}.id: not a match id: {key!r}")
    where = f"match {key}"
    start = timestamp(required(game, "scheduled", where), f"{where}.scheduled")
    status = game.get("status")
    if status is not None and not isinstance(status, str):
        raise BadItem(f"{where}.status: not text: {status!r}")
    competitors = obj(required(game, "competitors", where), f"{where}.competitors")
    teams = {}
    for side in ("away", "home"):
        team = obj(required(competitors, side, where), f"{where}.competitors.{side}")
        name = " ".join(str(team.get(k) or "") for k in ("market", "name")).strip() or None
        teams[side] = _team(team.get("abbr") or team.get("abbreviation"), name, f"{where}.competitors.{side}")
    seen = meta.fetched_at
    started = (status not in (None, "not_started")) or seen >= start
    odds = []
    markets = obj(game.get("markets") or {}, f"{where}.markets")
    for sbd_market, market in MARKETS.items():
        block = markets.get(sbd_market)
        if block is None:
            continue
        books = obj(block, f"{where}.markets.{sbd_market}").get("books")
        if not isinstance(books, list):
            raise BadItem(f"{where}.markets.{sbd_market}.books: expected a list")
        sides = ("over", "under") if market == "total" else ("home", "away")
        for b, book in enumerate(books):
            item = f"{where} {sbd_market}.books[{b}]"
            try:
                book = obj(book, item)
                name = _sr_book(book, item)
                rows = []
                for side in sides:
                    values = book.get(side)
                    if values is None:
                        continue
                    values = obj(values, f"{item}.{side}")
                    if market == "total":
                        line, opening_line = (
                            line_value(book.get("total"), f"{item}.total"),
                            line_value(book.get("opening_total"), f"{item}.opening_total"),
                        )
                    elif market == "runline":
                        line = line_value(values.get("spread"), f"{item}.{side}.spread")
                        opening_line = line_value(
                            values.get("opening_spread"), f"{item}.{side}.opening_spread"
                        )
                    else:
                        line = opening_line = None
                    for is_opening, price_key, this_line in (
                        (False, "odds", line),
                        (True, "opening_odds", opening_line),
                    ):
                        price = american(values.get(price_key), f"{item}.{side}.{price_key}")
                        if price is None:
                            continue
                        rows.append(
                            {
                                "source": SOURCE,
                                "source_game_key": key,
                                "book": name,
                                "market": market,
                                "side": side,
                                "line": this_line,
                                "price": price,
                                "is_opening": is_opening,
                                # The opening line is pre-game whenever it is read.
                                "in_play": started and not is_opening,
                                "observed_at": seen,
                            }
                        )
            except ITEM_ERRORS as exc:
                quarantine.append(QuarantinedItem(item, str(exc), snippet(book)))
                continue
            odds.extend(rows)
    game_row = {
        "source": SOURCE,
        "source_game_key": key,
        "start_time": start,
        "away_team_id": teams["away"].mlb_id,
        "home_team_id": teams["home"].mlb_id,
        "status": status,
        "last_seen_at": seen,
    }
    splits = _splits(game.get("bettingSplits"), key, start, meta.fetched_at, where)
    return {"source_games": [game_row], "odds_quotes": odds, "splits": splits}


def parse_mlb_odds(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``/wp-json/adpt/v1/mlb-odds`` (shape A) -> games, current and opening lines, splits.

    An empty body is the documented "204, no games" answer: nothing to parse, not an error.
    """
    if not body.strip():
        return ParsedPayload()
    games = _games(load_json(body, SbdParseError, "mlb_odds"), "mlb_odds", "data")
    parts, quarantine = [], []
    for i, game in enumerate(games):
        where = f"data[{i}]"
        try:
            parts.append(_widget_game(game, meta, where, quarantine))
        except ITEM_ERRORS as exc:
            key = f"match {game.get('id')}" if isinstance(game, Mapping) else where
            quarantine.append(QuarantinedItem(key, str(exc), snippet(game)))
    return collect_parts(parts, quarantine, SbdParseError, "mlb_odds")


# ---- shape B: srfeeds v2 matchups --------------------------------------------------------


def _american_field(value: object, where: str) -> int | None:
    """A price in shape B: a string, or ``{american: "..."}``."""
    if isinstance(value, Mapping):
        value = value.get("american")
    return american(value, where)


def _feed_book_rows(
    book: Mapping[str, Any], key: str, seen: datetime, started: bool, item: str
) -> list[dict]:
    name = book.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadItem(f"{item}.name: missing")
    odds = book.get("odds") if isinstance(book.get("odds"), Mapping) else book.get("lines")
    if odds is None:
        return []
    odds = obj(odds, f"{item}.odds")
    rows = []
    for sbd_market, market in MARKETS.items():
        block = odds.get(sbd_market)
        if block is None:
            continue
        block = obj(block, f"{item}.odds.{sbd_market}")
        sides = ("over", "under") if market == "total" else ("away", "home")
        for side in sides:
            values = block.get(side)
            if values is None:
                continue
            field = f"{item}.odds.{sbd_market}.{side}"
            if market == "moneyline":
                line, price = None, _american_field(values, field)
            else:
                values = obj(values, field)
                line = line_value(values.get("points"), f"{field}.points")
                price = _american_field(values.get("odds"), f"{field}.odds")
            if price is None:
                continue  # an empty quote (a book with no line up yet)
            rows.append(
                {
                    "source": SOURCE,
                    "source_game_key": key,
                    "book": name.strip().lower(),
                    "market": market,
                    "side": side,
                    "line": line,
                    "price": price,
                    "in_play": started,
                    "observed_at": seen,
                }
            )
    return rows


def _feed_game(
    game: object, meta: FetchMeta, where: str, quarantine: list[QuarantinedItem]
) -> dict[str, list]:
    game = obj(game, where)
    key = required(game, "_id", where)
    if not isinstance(key, str) or not key.strip():
        raise BadItem(f"{where}._id: not a game id: {key!r}")
    where = f"game {key}"
    start = timestamp(required(game, "date", where), f"{where}.date")
    teams = {}
    for side in ("away", "home"):
        team = obj(required(game, side, where), f"{where}.{side}")
        name = " ".join(str(team.get(k) or "") for k in ("city", "team")).strip() or None
        teams[side] = _team(team.get("code"), name, f"{where}.{side}.code")
    seen = meta.fetched_at
    started = seen >= start
    odds = []
    books = game.get("sportsbooks") or []
    if not isinstance(books, list):
        raise BadItem(f"{where}.sportsbooks: expected a list")
    for b, book in enumerate(books):
        item = f"{where} sportsbooks[{b}]"
        try:
            odds.extend(_feed_book_rows(obj(book, item), key, seen, started, item))
        except ITEM_ERRORS as exc:
            quarantine.append(QuarantinedItem(item, str(exc), snippet(book)))
    gameday = game.get("gameday")
    game_row = {
        "source": SOURCE,
        "source_game_key": key,
        "game_date": day(gameday, f"{where}.gameday") if gameday else None,
        "start_time": start,
        "away_team_id": teams["away"].mlb_id,
        "home_team_id": teams["home"].mlb_id,
        "last_seen_at": seen,
    }
    splits = _splits(game.get("bettingSplits"), key, start, meta.fetched_at, where)
    return {"source_games": [game_row], "odds_quotes": odds, "splits": splits}


def parse_betting_splits(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``srfeeds .../v2/matchups/mlb/betting-splits`` (shape B) -> games, lines per book, splits with counts."""
    if not body.strip():
        return ParsedPayload()
    games = _games(load_json(body, SbdParseError, "betting_splits"), "betting_splits", "games")
    parts, quarantine = [], []
    for i, game in enumerate(games):
        where = f"games[{i}]"
        try:
            parts.append(_feed_game(game, meta, where, quarantine))
        except ITEM_ERRORS as exc:
            key = f"game {game.get('_id')}" if isinstance(game, Mapping) else where
            quarantine.append(QuarantinedItem(key, str(exc), snippet(game)))
    return collect_parts(parts, quarantine, SbdParseError, "betting_splits")


PARSERS = {"mlb_odds": parse_mlb_odds, "betting_splits": parse_betting_splits}
