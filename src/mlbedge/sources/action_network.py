"""Action Network: the v2 scoreboard (prices per book, ``bet_info`` splits) and per-game line history.

Timestamp rules (fixtures/sources/SOURCES.md section 2.4): scoreboard outcomes carry no time, so
they are observed at the fetch; history entries carry ``updated_at``, the only AN time per price.
Book 30 is the opening line, book 15 the consensus that carries the public percentages.
Leakage: a scoreboard fetched after first pitch holds closing or live prices (one "consensus"
total of over +310 came from a game in the 9th), so every quote of a game already under way at
fetch time, and every ``is_live`` outcome, is ``in_play``; so is a history entry updated at or
after first pitch. The running ``boxscore`` is never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from mlbedge.domain.teams import by_action_network_id
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

SOURCE = "action_network"
OPEN_BOOK = 30
#: AN book ids (section 2.3); unknown ids are kept as ``an_<id>``
BOOKS: dict[int, str] = {
    15: "consensus",
    30: "open",
    68: "draftkings",
    69: "fanduel",
    71: "betrivers",
    75: "betmgm",
    79: "bet365",
    123: "caesars",
    2988: "fanatics",
    1548: "draftkings_ny",
    1006: "fanduel_ny",
    939: "betmgm_ny",
    1005: "caesars_ny",
    972: "betrivers_ny",
}
MARKETS = {"moneyline": "moneyline", "spread": "runline", "total": "total"}
SIDES = {"moneyline": {"home", "away"}, "runline": {"home", "away"}, "total": {"over", "under"}}
STARTED = frozenset({"inprogress", "complete", "closed", "final"})
HEADERS = {
    "Accept": "application/json",
    "Referer": "https://www.actionnetwork.com/",
    "Origin": "https://www.actionnetwork.com",
}


class ActionNetworkParseError(SourceParseError):
    """An Action Network payload that cannot be parsed at all."""

    source = SOURCE


def book_name(book_id: int) -> str:
    """The product's name for an AN book id."""
    return BOOKS.get(book_id, f"an_{book_id}")


# ---- requests ----------------------------------------------------------------------------


def scoreboard_request(settings: Settings, day: date) -> Request:
    """The v2 MLB scoreboard of ``day`` (full-game period) for the configured books."""
    return Request(
        SOURCE,
        "scoreboard",
        f"{settings.action_network_base_url.rstrip('/')}/web/v2/scoreboard/mlb",
        params={
            "bookIds": settings.action_network_book_ids,
            "date": day.strftime("%Y%m%d"),
            "periods": "event",
        },
        headers=HEADERS,
    )


def history_request(
    settings: Settings, event_id: int, start_time: datetime | None, away_team_id: int, home_team_id: int
) -> Request:
    """The line history of one event; the game facts it lacks travel in the request context."""
    return Request(
        SOURCE,
        "history",
        f"{settings.action_network_base_url.rstrip('/')}/web/v2/markets/event/{int(event_id)}/history",
        headers=HEADERS,
        context={
            "event_id": int(event_id),
            "start_time": start_time.isoformat() if start_time else None,
            "away_team_id": int(away_team_id),
            "home_team_id": int(home_team_id),
        },
    )


# ---- parsers -----------------------------------------------------------------------------


def _outcome_side(outcome: Mapping[str, Any], market: str, teams: Mapping[int, str], where: str) -> str:
    side = outcome.get("side")
    if side is None and market != "total":
        # Moneyline/spread outcomes also name the team: map it to home/away.
        side = teams.get(integer(outcome.get("team_id"), f"{where}.team_id") or -1)
    if side not in SIDES[market]:
        raise BadItem(f"{where}.side: {side!r} is not a {market} side")
    return str(side)


def _bet_info(outcome: Mapping[str, Any], where: str) -> tuple[float | None, float | None]:
    info = outcome.get("bet_info")
    if not isinstance(info, Mapping):
        return None, None
    tickets = info.get("tickets") if isinstance(info.get("tickets"), Mapping) else {}
    money = info.get("money") if isinstance(info.get("money"), Mapping) else {}
    return (
        percent(tickets.get("percent"), f"{where}.bet_info.tickets.percent"),
        percent(money.get("percent"), f"{where}.bet_info.money.percent"),
    )


def _markets(markets: object, where: str) -> list[tuple[int, str, int, object]]:
    """(book id, market, index, outcome) for every full-game outcome of a ``markets`` object."""
    found: list[tuple[int, str, int, object]] = []
    for book_key, periods in obj(markets, f"{where}.markets").items():
        book_id = integer(book_key, f"{where}.markets key", hi=10**9)
        event = obj(periods, f"{where}.markets.{book_key}").get("event")
        if not isinstance(event, Mapping):
            continue  # this book has no full-game period
        for an_type, market in MARKETS.items():
            outcomes = event.get(an_type)
            if outcomes is None:
                continue
            if not isinstance(outcomes, list):
                raise BadItem(f"{where}.markets.{book_key}.event.{an_type}: expected a list")
            found.extend((int(book_id or 0), market, k, outcome) for k, outcome in enumerate(outcomes))
    return found


def _scoreboard_game(
    game: object, meta: FetchMeta, where: str, quarantine: list[QuarantinedItem]
) -> dict[str, list]:
    game = obj(game, where)
    event_id = integer(required(game, "id", where), f"{where}.id", lo=1, hi=10**12)
    where = f"event {event_id}"
    start = timestamp(required(game, "start_time", where), f"{where}.start_time")
    status = game.get("status")
    if status is not None and not isinstance(status, str):
        raise BadItem(f"{where}.status: not text: {status!r}")
    an_away = integer(required(game, "away_team_id", where), f"{where}.away_team_id")
    an_home = integer(required(game, "home_team_id", where), f"{where}.home_team_id")
    away = by_action_network_id(int(an_away or 0), where=f"{where}.away_team_id")
    home = by_action_network_id(int(an_home or 0), where=f"{where}.home_team_id")
    if "markets" not in game and isinstance(game.get("odds"), list):
        raise BadItem(f"{where}: v1 'odds' shape where the v2 'markets' object was expected")
    seen = meta.fetched_at
    started = status in STARTED or seen >= start
    key = str(event_id)
    slate = str(meta.params.get("date", ""))
    game_row = {
        "source": SOURCE,
        "source_game_key": key,
        "game_date": date(int(slate[:4]), int(slate[4:6]), int(slate[6:8]))
        if len(slate) == 8 and slate.isdigit()
        else None,
        "start_time": start,
        "away_team_id": away.mlb_id,
        "home_team_id": home.mlb_id,
        "status": status,
        "last_seen_at": seen,
    }
    teams = {int(an_home or 0): "home", int(an_away or 0): "away"}
    odds, splits = [], []
    for book_id, market, k, outcome in _markets(game.get("markets", {}), where):
        item = f"{where} book {book_id} {market}[{k}]"
        try:
            outcome = obj(outcome, item)
            if outcome.get("is_alt_market") is True:
                continue  # alternate lines are not the market price
            side = _outcome_side(outcome, market, teams, item)
            is_live = outcome.get("is_live") is True
            is_opening = book_id == OPEN_BOOK
            price = american(outcome.get("odds"), f"{item}.odds")
            line = None if market == "moneyline" else line_value(outcome.get("value"), f"{item}.value")
            bets, money = _bet_info(outcome, item)
        except ITEM_ERRORS as exc:
            quarantine.append(QuarantinedItem(item, str(exc), snippet(outcome)))
            continue
        # The opening line stays a pre-game fact whenever it is read; everything else a game
        # already under way shows is closing or live.
        in_play = is_live or (started and not is_opening)
        common = {"source": SOURCE, "source_game_key": key, "book": book_name(book_id), "market": market}
        common |= {"side": side, "in_play": in_play, "observed_at": seen}
        if price is not None or line is not None:
            odds.append(common | {"line": line, "price": price, "is_opening": is_opening, "is_live": is_live})
        if (bets is not None or money is not None) and not is_live:
            splits.append(common | {"bets_pct": bets, "money_pct": money})
    return {"source_games": [game_row], "odds_quotes": odds, "splits": splits}


def parse_scoreboard(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``/web/v2/scoreboard/mlb`` -> source games, quotes per book/market/side, ``bet_info`` splits."""
    data = load_json(body, ActionNetworkParseError, "scoreboard")
    if not isinstance(data, Mapping) or not isinstance(data.get("games"), list):
        raise ActionNetworkParseError("scoreboard", "no 'games' list at the top level")
    parts, quarantine = [], []
    for i, game in enumerate(data["games"]):
        where = f"games[{i}]"
        try:
            parts.append(_scoreboard_game(game, meta, where, quarantine))
        except ITEM_ERRORS as exc:
            key = f"event {game.get('id')}" if isinstance(game, Mapping) else where
            quarantine.append(QuarantinedItem(key, str(exc), snippet(game)))
    return collect_parts(parts, quarantine, ActionNetworkParseError, "scoreboard")


def _context_time(value: object) -> datetime | None:
    try:
        return timestamp(value, "context.start_time") if value else None
    except BadItem:
        return None


def parse_history(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """``/web/v2/markets/event/{id}/history`` -> one quote per price change, observed at ``updated_at``.

    Entries updated at or after first pitch (from the request context) and live outcomes are
    ``in_play``; without a known first pitch the link step marks them against the MLB schedule.
    """
    data = load_json(body, ActionNetworkParseError, "history")
    if not isinstance(data, Mapping):
        raise ActionNetworkParseError("history", "expected an object keyed by book id at the top level")
    context = meta.context
    try:
        event_id = integer(context.get("event_id"), "context.event_id", lo=1, hi=10**12)
    except BadItem:
        event_id = None
    if event_id is None:
        raise ActionNetworkParseError("history", "the fetch does not say which event it is for")
    key = str(event_id)
    start = _context_time(context.get("start_time"))
    parts: list[dict[str, list]] = []
    quarantine: list[QuarantinedItem] = []
    where = f"event {event_id}"
    try:
        found = _markets(data, where)
    except ITEM_ERRORS as exc:
        raise ActionNetworkParseError("history", str(exc)) from None
    try:
        away_id, home_id = int(context["away_team_id"]), int(context["home_team_id"])
    except (KeyError, TypeError, ValueError):
        away_id = home_id = None
    if away_id is not None and home_id is not None:
        # The scoreboard names this game too; the context keeps a re-parse self-sufficient.
        game_row = {"source": SOURCE, "source_game_key": key, "start_time": start}
        game_row |= {"away_team_id": away_id, "home_team_id": home_id, "last_seen_at": meta.fetched_at}
        parts.append({"source_games": [game_row]})
    odds = []
    for book_id, market, k, outcome in found:
        item = f"{where} book {book_id} {market}[{k}]"
        try:
            outcome = obj(outcome, item)
            if outcome.get("is_alt_market") is True:
                continue
            side = _outcome_side_history(outcome, market, item)
            is_live = outcome.get("is_live") is True
            history = outcome.get("history")
            if not isinstance(history, list):
                raise BadItem(f"{item}.history: expected a list")
        except ITEM_ERRORS as exc:
            quarantine.append(QuarantinedItem(item, str(exc), snippet(outcome)))
            continue
        is_opening = book_id == OPEN_BOOK
        for h, entry in enumerate(history):
            entry_key = f"{item}.history[{h}]"
            try:
                entry = obj(entry, entry_key)
                seen = observed(
                    timestamp(required(entry, "updated_at", entry_key), f"{entry_key}.updated_at"),
                    meta.fetched_at,
                )
                price = american(entry.get("odds"), f"{entry_key}.odds")
                line = None if market == "moneyline" else line_value(entry.get("value"), f"{entry_key}.value")
            except ITEM_ERRORS as exc:
                quarantine.append(QuarantinedItem(entry_key, str(exc), snippet(entry)))
                continue
            if price is None and line is None:
                continue
            in_play = is_live or (start is not None and seen >= start and not is_opening)
            odds.append(
                {
                    "source": SOURCE,
                    "source_game_key": key,
                    "book": book_name(book_id),
                    "market": market,
                    "side": side,
                    "line": line,
                    "price": price,
                    "is_opening": is_opening,
                    "is_live": is_live,
                    "in_play": in_play,
                    "observed_at": seen,
                }
            )
    parts.append({"odds_quotes": odds})
    return collect_parts(parts, quarantine, ActionNetworkParseError, "history")


def _outcome_side_history(outcome: Mapping[str, Any], market: str, where: str) -> str:
    side = outcome.get("side")
    if side not in SIDES[market]:
        raise BadItem(f"{where}.side: {side!r} is not a {market} side")
    return str(side)


PARSERS = {"scoreboard": parse_scoreboard, "history": parse_history}
