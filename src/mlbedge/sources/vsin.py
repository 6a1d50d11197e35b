"""VSIN betting splits: handle % and bets % for one book (DraftKings or Circa), server-rendered HTML.

Two markups are read with a real HTML parser (selectolax), both per fixtures/sources/SOURCES.md
section 3.2: the current ``table.sp-table`` (two ``tr.sp-row`` per game, away then home; in the
total columns the away row is OVER and the home row UNDER) and the legacy ``table.freezetable``
(one row per game, away/home values split by ``<hr>``).

Timestamp rule (section 3.4): the page has no update time, so everything is observed at the
fetch. The game code ``YYYYMMDD<LEAGUE><seq>`` dates the game (not the block header, which rolls
over at odd hours). There is no first pitch on the page: rows of a ``sp-game-final`` game are
``in_play`` at once, the others are marked against the MLB first pitch once linked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

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
    line_value,
    percent,
)

SOURCE = "vsin"
BOOKS = {"DK": "draftkings", "CIRCA": "circa"}
_GAME_CODE = re.compile(r"^(\d{4})(\d{2})(\d{2})([A-Z]+)(\d+)$")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_HR = re.compile(r"<hr\b[^>]*>", re.IGNORECASE)


class VsinParseError(SourceParseError):
    """A VSIN page that cannot be parsed at all (no splits table, not HTML)."""

    source = SOURCE


# ---- requests ----------------------------------------------------------------------------


def splits_request(settings: Settings, book: str, view: str) -> Request:
    """The current splits page for one book (``DK``/``CIRCA``) and view (``today``/``tomorrow``)."""
    return Request(
        SOURCE,
        "splits",
        f"{settings.vsin_base_url.rstrip('/')}/betting-splits/",
        params={"source": book.upper(), "sport": "MLB", "view": view},
        headers={"Accept": "text/html,application/xhtml+xml"},
    )


# ---- cell readers ------------------------------------------------------------------------


def _text(node: Node | None) -> str:
    return " ".join(node.text(separator=" ").split()) if node is not None else ""


def _percent(text: str, where: str) -> float | None:
    match = _PERCENT.search(text)
    if match is None:
        if not text.strip() or text.strip() in {"-", "--"}:
            return None
        raise BadItem(f"{where}: not a percentage: {text!r}")
    return percent(match.group(1), where)


def _line_and_price(text: str, where: str) -> tuple[float | None, int | None]:
    """ "+1.5", "-1.5 -130", "o8.5", "9" -> (line, price or None)."""
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None, None
    line = line_value(numbers[0], f"{where} line")
    price = american(numbers[1], f"{where} price") if len(numbers) > 1 else None
    return line, price


def _price(text: str, where: str) -> int | None:
    numbers = _NUMBER.findall(text)
    return american(numbers[0], where) if numbers else None


def _team(link: Node | None, where: str) -> Team:
    """The franchise of a team link: by its url slug, else by the text shown."""
    if link is None:
        raise BadItem(f"{where}: no team link")
    href = link.attributes.get("href") or ""
    slug = href.rstrip("/").rsplit("/", 1)[-1] if "/teams/" in href else ""
    name = _text(link)
    for code in (slug, name):
        if code:
            try:
                return resolve(TeamSource.VSIN, code, where=where)
            except UnknownTeamError:
                continue
    raise UnknownTeamError("vsin", slug or name, where)


def _game_code(code: str, where: str) -> tuple[date, str, int]:
    match = _GAME_CODE.match(code.strip())
    if match is None:
        raise BadItem(f"{where}: not a game code: {code!r}")
    year, month, dd, league, seq = match.groups()
    try:
        return date(int(year), int(month), int(dd)), league, int(seq)
    except ValueError:
        raise BadItem(f"{where}: game code {code!r} holds no valid date") from None


def _book(meta: FetchMeta) -> str:
    params = {str(k).lower(): str(v) for k, v in meta.params.items()}
    chosen = (
        params.get("source") or params.get("bookid") or ("circa" if params.get("view") == "circa" else "dk")
    )
    return BOOKS.get(chosen.upper(), chosen.lower())


def _rows_for_game(
    code: str,
    away: Team,
    home: Team,
    values: Mapping[str, tuple[Any, Any]],
    final: bool,
    meta: FetchMeta,
) -> dict[str, list[dict[str, Any]]]:
    """Rows for one game from its parsed (away, home) value pairs.

    ``values``: ``ml``/``rl``/``total`` -> ((line, price), (line, price)), and
    ``<market>_handle``/``<market>_bets`` -> (away or over %, home or under %).
    """
    game_day, _, seq = _game_code(code, code)
    seen = meta.fetched_at
    book = _book(meta)
    base = {"source": SOURCE, "source_game_key": code, "book": book, "in_play": final, "observed_at": seen}
    odds, splits = [], []
    for market, key in (("moneyline", "ml"), ("runline", "rl"), ("total", "total")):
        sides = ("over", "under") if market == "total" else ("away", "home")
        for index, side in enumerate(sides):
            line, price = values[key][index]
            if market == "moneyline":
                line = None
            if line is not None or price is not None:
                odds.append(base | {"market": market, "side": side, "line": line, "price": price})
            bets = values[f"{key}_bets"][index]
            money = values[f"{key}_handle"][index]
            if bets is not None or money is not None:
                splits.append(base | {"market": market, "side": side, "bets_pct": bets, "money_pct": money})
    game = {
        "source": SOURCE,
        "source_game_key": code,
        "game_date": game_day,
        "away_team_id": away.mlb_id,
        "home_team_id": home.mlb_id,
        "seq": seq,
        "status": "final" if final else None,
        "last_seen_at": seen,
    }
    return {"source_games": [game], "odds_quotes": odds, "splits": splits}


# ---- current layout ----------------------------------------------------------------------


def _current_game(away_row: Node, home_row: Node, code: str, meta: FetchMeta) -> dict[str, list]:
    where = f"game {code}"
    cells = [away_row.css("td"), home_row.css("td")]
    for cell_list, name in zip(cells, ("away", "home"), strict=True):
        if len(cell_list) < 11:
            raise BadItem(f"{where} {name} row: expected 11 cells, found {len(cell_list)}")
    away = _team(cells[0][1].css_first("a"), f"{where} away team")
    home = _team(cells[1][1].css_first("a"), f"{where} home team")
    values: dict[str, tuple[Any, Any]] = {}
    for key, line_cell, handle_cell, bets_cell in (("rl", 2, 3, 4), ("total", 5, 6, 7), ("ml", 8, 9, 10)):
        pairs = []
        for side, row_cells in zip(("away", "home"), cells, strict=True):
            text = _text(row_cells[line_cell])
            if key == "ml":
                pairs.append((None, _price(text, f"{where} {side} moneyline")))
            else:
                pairs.append(_line_and_price(text, f"{where} {side} {key}"))
        values[key] = (pairs[0], pairs[1])
        values[f"{key}_handle"] = tuple(
            _percent(_text(c[handle_cell]), f"{where} {key} handle") for c in cells
        )  # type: ignore[assignment]
        values[f"{key}_bets"] = tuple(_percent(_text(c[bets_cell]), f"{where} {key} bets") for c in cells)  # type: ignore[assignment]
    classes = " ".join((away_row.attributes.get("class") or "", home_row.attributes.get("class") or ""))
    final = "sp-game-final" in classes.split()
    return _rows_for_game(code, away, home, values, final, meta)


def _parse_current(
    tables: list[Node], meta: FetchMeta, parts: list, quarantine: list[QuarantinedItem]
) -> None:
    for t, table in enumerate(tables):
        header = _text(table.css_first("th.sp-sport-name"))
        if header and not header.upper().startswith("MLB"):
            continue
        rows = table.css("tr.sp-row")
        i = 0
        while i < len(rows):
            row = rows[i]
            button = row.css_first("[data-gamecode]")
            if button is None:
                quarantine.append(
                    QuarantinedItem(f"table {t} row {i}", "a home row without its away row", row.html or "")
                )
                i += 1
                continue
            code = (button.attributes.get("data-gamecode") or "").strip()
            if "MLB" not in code.upper():
                i += 2
                continue
            home_row = rows[i + 1] if i + 1 < len(rows) else None
            if home_row is None or home_row.css_first("[data-gamecode]") is not None:
                quarantine.append(
                    QuarantinedItem(f"game {code}", "away row without its home row", row.html or "")
                )
                i += 1
                continue
            try:
                parts.append(_current_game(row, home_row, code, meta))
            except ITEM_ERRORS as exc:
                quarantine.append(
                    QuarantinedItem(f"game {code}", str(exc), (row.html or "") + (home_row.html or ""))
                )
            i += 2


# ---- legacy layout -----------------------------------------------------------------------


def _halves(cell: Node) -> tuple[str, str]:
    """The away and home texts of a legacy cell (split at its ``<hr>``)."""
    parts = _HR.split(cell.html or "", maxsplit=1)
    if len(parts) != 2:
        raise BadItem("cell has no <hr> between the away and home values")
    texts = [" ".join(HTMLParser(part).text(separator=" ").split()) for part in parts]
    return texts[0], texts[1]


def _legacy_game(row: Node, meta: FetchMeta) -> dict[str, list] | None:
    cells = row.css("td")
    anchor = cells[0].css_first("[data-param2]")
    if anchor is None:
        raise BadItem("no game code (a[data-param2]) in the first cell")
    code = (anchor.attributes.get("data-param2") or "").strip()
    if "MLB" not in code.upper():
        return None
    where = f"game {code}"
    if len(cells) < 10:
        raise BadItem(f"{where}: expected 10 cells, found {len(cells)}")
    links = cells[0].css('a.txt-color-vsinred[href*="/teams/"]')
    if len(links) < 2:
        raise BadItem(f"{where}: expected two team links, found {len(links)}")
    away, home = _team(links[0], f"{where} away team"), _team(links[1], f"{where} home team")
    values: dict[str, tuple[Any, Any]] = {}
    for key, line_cell, handle_cell, bets_cell in (("ml", 1, 2, 3), ("total", 4, 5, 6), ("rl", 7, 8, 9)):
        first, second = _halves(cells[line_cell])
        if key == "ml":
            values[key] = (
                (None, _price(first, f"{where} away moneyline")),
                (None, _price(second, f"{where} home moneyline")),
            )
        else:
            values[key] = (
                _line_and_price(first, f"{where} {key}"),
                _line_and_price(second, f"{where} {key}"),
            )
        handle = _halves(cells[handle_cell])
        bets = _halves(cells[bets_cell])
        values[f"{key}_handle"] = (
            _percent(handle[0], f"{where} {key} handle"),
            _percent(handle[1], f"{where} {key} handle"),
        )
        values[f"{key}_bets"] = (
            _percent(bets[0], f"{where} {key} bets"),
            _percent(bets[1], f"{where} {key} bets"),
        )
    return _rows_for_game(code, away, home, values, False, meta)


def _parse_legacy(
    tables: list[Node], meta: FetchMeta, parts: list, quarantine: list[QuarantinedItem]
) -> None:
    for t, table in enumerate(tables):
        for r, row in enumerate(table.css("tr")):
            if not row.css("td"):
                continue  # a header row (<th> only)
            try:
                part = _legacy_game(row, meta)
            except ITEM_ERRORS as exc:
                anchor = row.css_first("[data-param2]")
                key = (
                    f"game {anchor.attributes.get('data-param2')}"
                    if anchor is not None
                    else f"table {t} row {r}"
                )
                quarantine.append(QuarantinedItem(key, str(exc), row.html or ""))
                continue
            if part is not None:
                parts.append(part)


def parse_splits(body: bytes, meta: FetchMeta) -> ParsedPayload:
    """A VSIN splits page (either markup) -> source games, the book's lines, handle/bets splits."""
    try:
        html = body.decode("utf-8", errors="replace")
        tree = HTMLParser(html)
        current = tree.css("table.sp-table")
        legacy = tree.css("table.freezetable")
    except Exception as exc:  # selectolax refuses some byte soups outright
        raise VsinParseError("splits", f"not an HTML page: {exc}") from None
    if not current and not legacy:
        raise VsinParseError("splits", "no splits table (table.sp-table or table.freezetable) in the page")
    parts: list[dict[str, list]] = []
    quarantine: list[QuarantinedItem] = []
    try:
        _parse_current(current, meta, parts, quarantine)
        _parse_legacy(legacy, meta, parts, quarantine)
    except ITEM_ERRORS as exc:  # pragma: no cover - every item is guarded; this is the last net
        raise VsinParseError("splits", f"unreadable table: {exc}") from None
    return collect_parts(parts, quarantine, VsinParseError, "splits")


PARSERS = {"splits": parse_splits}
