"""What every live-source parser produces, and the one place it is written to ``staging``.

A parser turns one raw payload into a :class:`ParsedPayload`: typed Polars frames, one per staging
table, plus the items it had to quarantine (a game with an unknown team code, a price that is not
an American price, ...). The payload-wide rules live here so every source applies them the same:

* ``observed_at`` is the payload's own timestamp where the source has a trustworthy one, but never
  later than the fetch (we held the value at fetch time whatever the payload claims), else the
  fetch time;
* ``in_play`` marks anything not observed strictly before first pitch (live markets, a game
  already under way or over at fetch time): such rows are kept but never used as pre-game facts.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from mlbedge.storage.bulk import copy_into, upsert_frame

TS = pl.Datetime("us", "UTC")


class SourceParseError(ValueError):
    """A payload that cannot be parsed at all. Names the source, endpoint and what is wrong."""

    source = "source"

    def __init__(self, endpoint: str, message: str, where: str | None = None) -> None:
        location = f" at {where}" if where else ""
        super().__init__(f"{self.source} {endpoint}{location}: {message}")
        self.endpoint = endpoint
        self.where = where


class BadItem(ValueError):
    """One game or entry of a payload that cannot be used; it is quarantined with this reason."""


@dataclass(frozen=True)
class FetchMeta:
    """The facts of the raw fetch a payload came from, as stored in ``raw.fetches``."""

    fetch_id: uuid.UUID
    source: str
    endpoint: str
    fetched_at: datetime
    url: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuarantinedItem:
    """A part of a payload that was set aside: which (``item_key``), why, and its raw text."""

    item_key: str
    reason: str
    raw_item: str


# One schema per staging table; the parsers build rows with these columns (missing = null).
ODDS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_game_key": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "line": pl.Float64(),
    "price": pl.Int32(),
    "is_opening": pl.Boolean(),
    "is_live": pl.Boolean(),
    "in_play": pl.Boolean(),
    "observed_at": TS,
    "fetch_id": pl.String(),
}
SPLITS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_game_key": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "bets_pct": pl.Float64(),
    "money_pct": pl.Float64(),
    "bet_count": pl.Int64(),
    "in_play": pl.Boolean(),
    "observed_at": TS,
    "fetch_id": pl.String(),
}
SOURCE_GAMES_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_game_key": pl.String(),
    "game_date": pl.Date(),
    "start_time": TS,
    "away_team_id": pl.Int32(),
    "home_team_id": pl.Int32(),
    "seq": pl.Int32(),
    "status": pl.String(),
    "last_seen_at": TS,
    "last_fetch_id": pl.String(),
}
SCHEDULE_SCHEMA: dict[str, pl.DataType] = {
    "game_pk": pl.Int64(),
    "origin": pl.String(),
    "observed_at": TS,
    "official_date": pl.Date(),
    "game_date": TS,
    "game_type": pl.String(),
    "season": pl.Int32(),
    "abstract_state": pl.String(),
    "coded_state": pl.String(),
    "detailed_state": pl.String(),
    "status_code": pl.String(),
    "start_time_tbd": pl.Boolean(),
    "double_header": pl.String(),
    "game_number": pl.Int32(),
    "away_team_id": pl.Int32(),
    "home_team_id": pl.Int32(),
    "venue_id": pl.Int32(),
    "venue_name": pl.String(),
    "day_night": pl.String(),
    "scheduled_innings": pl.Int32(),
    "reschedule_game_date": TS,
    "weather_condition": pl.String(),
    "weather_temp": pl.Int32(),
    "weather_wind": pl.String(),
    "in_play": pl.Boolean(),
    "fetch_id": pl.String(),
}
PROBABLES_SCHEMA: dict[str, pl.DataType] = {
    "game_pk": pl.Int64(),
    "side": pl.String(),
    "origin": pl.String(),
    "observed_at": TS,
    "pitcher_id": pl.Int64(),
    "pitcher_name": pl.String(),
    "pitch_hand": pl.String(),
    "in_play": pl.Boolean(),
    "fetch_id": pl.String(),
}
RESULTS_SCHEMA: dict[str, pl.DataType] = {
    "game_pk": pl.Int64(),
    "origin": pl.String(),
    "observed_at": TS,
    "away_score": pl.Int32(),
    "home_score": pl.Int32(),
    "is_final": pl.Boolean(),
    "detailed_state": pl.String(),
    "innings": pl.Int32(),
    "away_starter_id": pl.Int64(),
    "home_starter_id": pl.Int64(),
    "winning_pitcher_id": pl.Int64(),
    "losing_pitcher_id": pl.Int64(),
    "fetch_id": pl.String(),
}
STANDINGS_SCHEMA: dict[str, pl.DataType] = {
    "season": pl.Int32(),
    "standings_type": pl.String(),
    "team_id": pl.Int32(),
    "observed_at": TS,
    "through_date": pl.Date(),
    "league_id": pl.Int32(),
    "division_id": pl.Int32(),
    "wins": pl.Int32(),
    "losses": pl.Int32(),
    "runs_scored": pl.Int32(),
    "runs_allowed": pl.Int32(),
    "games_back": pl.String(),
    "wild_card_games_back": pl.String(),
    "division_rank": pl.Int32(),
    "streak_code": pl.String(),
    "home_wins": pl.Int32(),
    "home_losses": pl.Int32(),
    "away_wins": pl.Int32(),
    "away_losses": pl.Int32(),
    "last_ten_wins": pl.Int32(),
    "last_ten_losses": pl.Int32(),
    "last_updated": TS,
    "fetch_id": pl.String(),
}
TEAMS_SCHEMA: dict[str, pl.DataType] = {
    "team_id": pl.Int32(),
    "observed_at": TS,
    "abbreviation": pl.String(),
    "name": pl.String(),
    "team_name": pl.String(),
    "location_name": pl.String(),
    "league_id": pl.Int32(),
    "division_id": pl.Int32(),
    "venue_id": pl.Int32(),
    "active": pl.Boolean(),
    "fetch_id": pl.String(),
}

#: staging table -> (schema, natural key). Written in this order (source games first).
TABLES: dict[str, tuple[dict[str, pl.DataType], list[str]]] = {
    "source_games": (SOURCE_GAMES_SCHEMA, ["source", "source_game_key"]),
    "odds_quotes": (
        ODDS_SCHEMA,
        ["source", "source_game_key", "book", "market", "side", "is_opening", "is_live", "observed_at"],
    ),
    "splits": (SPLITS_SCHEMA, ["source", "source_game_key", "book", "market", "side", "observed_at"]),
    "schedule": (SCHEDULE_SCHEMA, ["game_pk", "origin", "observed_at"]),
    "probable_pitchers": (PROBABLES_SCHEMA, ["game_pk", "side", "origin", "observed_at"]),
    "results": (RESULTS_SCHEMA, ["game_pk", "origin", "observed_at"]),
    "standings": (STANDINGS_SCHEMA, ["season", "standings_type", "team_id", "observed_at"]),
    "mlb_teams": (TEAMS_SCHEMA, ["team_id", "observed_at"]),
}
#: tables whose rows carry a ``fetch_id`` and are re-derived by a re-parse
DERIVED_TABLES = (
    "odds_quotes",
    "splits",
    "schedule",
    "probable_pitchers",
    "results",
    "standings",
    "mlb_teams",
)


@dataclass
class ParsedPayload:
    """Typed frames per staging table, and what was quarantined."""

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    quarantine: list[QuarantinedItem] = field(default_factory=list)

    def frame(self, table: str) -> pl.DataFrame:
        """The frame for ``table`` (empty, correctly typed, when the payload had none)."""
        schema, _ = TABLES[table]
        return self.frames.get(table, pl.DataFrame(schema=schema))

    @property
    def records(self) -> int:
        return sum(f.height for name, f in self.frames.items() if name != "source_games")


def collect_parts(
    parts: Iterable[Mapping[str, list[dict[str, Any]]]],
    quarantine: list[QuarantinedItem],
    error: type[SourceParseError],
    endpoint: str,
) -> ParsedPayload:
    """Merge per-item rows ({table: rows}) into one typed frame per staging table.

    A value the typed frame refuses makes the payload as a whole unusable: ``error`` says so.
    """
    tables: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for table, rows in part.items():
            tables.setdefault(table, []).extend(rows)
    try:
        frames = {table: frame_from_rows(table, rows) for table, rows in tables.items()}
    except Exception as exc:
        raise error(endpoint, f"values do not fit the staging types: {exc}") from None
    return ParsedPayload(frames=frames, quarantine=quarantine)


def frame_from_rows(table: str, rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows (dicts; missing keys are null) as a frame with ``table``'s exact schema."""
    schema, _ = TABLES[table]
    rows = list(rows)
    if not rows:
        return pl.DataFrame(schema=schema)
    columns = {name: [row.get(name) for row in rows] for name in schema}
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Datetime):
            # One tzinfo object for every value: Polars refuses a column mixing UTC tzinfos
            # (``timezone.utc`` from parsing next to ``Etc/UTC`` from the database driver).
            columns[name] = [v.astimezone(UTC) if isinstance(v, datetime) else v for v in columns[name]]
    frame = pl.DataFrame(columns, schema=schema, strict=False)
    # Flags a source does not have are false; ``in_play`` is always the parser's explicit call.
    flags = [c for c in ("is_opening", "is_live") if c in schema]
    return frame.with_columns(pl.col(flags).fill_null(False)) if flags else frame


def snippet(item: object, limit: int = 20_000) -> str:
    """The JSON (or repr) text of a payload item, for the quarantine (the full payload stays in raw)."""
    try:
        text = json.dumps(item, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # pragma: no cover - default=str handles the rest
        text = repr(item)
    return text[:limit]


# ---- value helpers: each raises BadItem with a reason that names the field -----------------

_PRICE = re.compile(r"^\s*([+-]?)\s*(\d{3,6})(?:\.0+)?\s*$")


def american(value: object, field_name: str) -> int | None:
    """An American price from an int or a signed string ("+104", "-125", "EV"); None when blank.

    Anything else (a price between -100 and +100, text, booleans, absurd magnitudes) is a BadItem.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadItem(f"{field_name}: not an American price: {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
            raise BadItem(f"{field_name}: not an American price: {value!r}")
        price = int(value)
    elif isinstance(value, str):
        text = value.strip().upper()
        if text in {"EV", "EVEN"}:
            return 100
        match = _PRICE.match(text)
        if not match:
            raise BadItem(f"{field_name}: not an American price: {value!r}")
        price = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
    else:
        raise BadItem(f"{field_name}: not an American price: {value!r}")
    if not (100 <= abs(price) <= 100_000):
        raise BadItem(f"{field_name}: not an American price: {value!r}")
    return price


def number(value: object, field_name: str, *, lo: float = -1e6, hi: float = 1e6) -> float | None:
    """A finite float from a number or numeric string ("8.5", "+1.5"); None when blank."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadItem(f"{field_name}: not a number: {value!r}")
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        try:
            out = float(text)
        except ValueError:
            raise BadItem(f"{field_name}: not a number: {value!r}") from None
    elif isinstance(value, int | float):
        out = float(value)
    else:
        raise BadItem(f"{field_name}: not a number: {value!r}")
    if not math.isfinite(out) or not (lo <= out <= hi):
        raise BadItem(f"{field_name}: out of range: {value!r}")
    return out


def line_value(value: object, field_name: str) -> float | None:
    """A spread or total line (half-runs), e.g. -1.5 or 8.5."""
    out = number(value, field_name, lo=-99.5, hi=99.5)
    if out is not None and (out * 2) != int(out * 2):
        raise BadItem(f"{field_name}: not a half-run line: {value!r}")
    return out


def percent(value: object, field_name: str) -> float | None:
    """A 0-100 share; None when blank."""
    return number(value, field_name, lo=0.0, hi=100.0)


def integer(value: object, field_name: str, *, lo: int = 0, hi: int = 2**31 - 1) -> int | None:
    """A whole number (int or digit string) in [lo, hi]; None when blank."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadItem(f"{field_name}: not an integer: {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,18}", text):
            raise BadItem(f"{field_name}: not an integer: {value!r}")
        out = int(text)
    elif isinstance(value, int):
        out = value
    elif isinstance(value, float) and math.isfinite(value) and value == int(value):
        out = int(value)
    else:
        raise BadItem(f"{field_name}: not an integer: {value!r}")
    if not (lo <= out <= hi):
        raise BadItem(f"{field_name}: out of range: {value!r}")
    return out


def required(mapping: object, key: str, where: str) -> Any:
    """``mapping[key]``, or a BadItem naming the missing field."""
    if not isinstance(mapping, Mapping):
        raise BadItem(f"{where}: expected an object, got {type(mapping).__name__}")
    if key not in mapping or mapping[key] is None:
        raise BadItem(f"{where}.{key}: missing")
    return mapping[key]


def obj(value: object, where: str) -> Mapping[str, Any]:
    """``value`` when it is an object (dict), else a BadItem."""
    if not isinstance(value, Mapping):
        raise BadItem(f"{where}: expected an object, got {type(value).__name__}")
    return value


def timestamp(value: object, field_name: str) -> datetime:
    """An ISO-8601 instant ("...Z", "+00:00", "-05:00", fractions) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        raise BadItem(f"{field_name}: not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadItem(f"{field_name}: not a timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise BadItem(f"{field_name}: timestamp without a time zone: {value!r}")
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise BadItem(f"{field_name}: timestamp out of range: {value!r}") from None


def day(value: object, field_name: str) -> date:
    """A calendar date "YYYY-MM-DD"."""
    if not isinstance(value, str):
        raise BadItem(f"{field_name}: not a date: {value!r}")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise BadItem(f"{field_name}: not a date: {value!r}") from None


def observed(payload_time: datetime | None, fetched_at: datetime) -> datetime:
    """The observation time: the payload's own time, never later than the fetch."""
    if payload_time is None:
        return fetched_at.astimezone(UTC)
    return min(payload_time, fetched_at).astimezone(UTC)


# ---- writing -----------------------------------------------------------------------------


def _with_fetch_id(frame: pl.DataFrame, column: str, fetch_id: uuid.UUID) -> pl.DataFrame:
    return frame.with_columns(pl.lit(str(fetch_id)).alias(column))


def _dedupe(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Within one payload the last row per natural key wins (a repeated history entry, say)."""
    return frame.unique(subset=key, keep="last", maintain_order=True)


def write_source_games(conn: psycopg.Connection, frame: pl.DataFrame) -> int:
    """Upsert the per-source game identities, keeping the newest observation's facts.

    The link (``game_pk``, ``match_status``) is left alone here: matching recomputes it.
    """
    if frame.is_empty():
        return 0
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _load_source_games_in "
        "(LIKE staging.source_games INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    conn.execute("TRUNCATE _load_source_games_in")
    staged = frame.with_columns(first_seen_at=pl.col("last_seen_at"))
    copy_into(conn, sql.Identifier("_load_source_games_in"), staged)
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO staging.source_games AS t (source, source_game_key, game_date, start_time,
                away_team_id, home_team_id, seq, status, first_seen_at, last_seen_at, last_fetch_id)
            SELECT source, source_game_key, game_date, start_time, away_team_id, home_team_id, seq,
                   status, first_seen_at, last_seen_at, last_fetch_id
            FROM _load_source_games_in
            ON CONFLICT (source, source_game_key) DO UPDATE SET
                game_date = CASE WHEN EXCLUDED.last_seen_at >= t.last_seen_at
                                 THEN COALESCE(EXCLUDED.game_date, t.game_date) ELSE t.game_date END,
                start_time = CASE WHEN EXCLUDED.last_seen_at >= t.last_seen_at
                                  THEN COALESCE(EXCLUDED.start_time, t.start_time) ELSE t.start_time END,
                away_team_id = CASE WHEN EXCLUDED.last_seen_at >= t.last_seen_at
                                    THEN EXCLUDED.away_team_id ELSE t.away_team_id END,
                home_team_id = CASE WHEN EXCLUDED.last_seen_at >= t.last_seen_at
                                    THEN EXCLUDED.home_team_id ELSE t.home_team_id END,
                seq = COALESCE(EXCLUDED.seq, t.seq),
                status = CASE WHEN EXCLUDED.last_seen_at >= t.last_seen_at
                              THEN COALESCE(EXCLUDED.status, t.status) ELSE t.status END,
                first_seen_at = LEAST(t.first_seen_at, EXCLUDED.first_seen_at),
                last_seen_at = GREATEST(t.last_seen_at, EXCLUDED.last_seen_at),
                last_fetch_id = CASE WHEN EXCLUDED.last_seen_at >= t.last_seen_at
                                     THEN EXCLUDED.last_fetch_id ELSE t.last_fetch_id END
            """
        )
        return cur.rowcount


def write_parsed(conn: psycopg.Connection, fetch_id: uuid.UUID, parsed: ParsedPayload) -> dict[str, int]:
    """Write every frame of ``parsed`` (idempotent by natural key) and its quarantine.

    Returns rows inserted or changed per table. A repeat of the same payload writes nothing new.
    """
    written: dict[str, int] = {}
    for table, (_, key) in TABLES.items():
        frame = parsed.frames.get(table)
        if frame is None or frame.is_empty():
            continue
        if table == "source_games":
            frame = _dedupe(_with_fetch_id(frame, "last_fetch_id", fetch_id), key)
            written[table] = write_source_games(conn, frame)
            continue
        frame = _dedupe(_with_fetch_id(frame, "fetch_id", fetch_id), key)
        # An observation already held from an earlier fetch keeps its first fetch (DO NOTHING).
        written[table] = upsert_frame(conn, f"staging.{table}", frame, key=key, update=False)
    if parsed.quarantine:
        rows = [(str(fetch_id), q.item_key[:500], q.reason[:2000], q.raw_item) for q in parsed.quarantine]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO staging.payload_quarantine (fetch_id, item_key, reason, raw_item) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                rows,
            )
        written["payload_quarantine"] = len(rows)
    return written


def delete_derived(conn: psycopg.Connection, fetch_ids: list[uuid.UUID]) -> int:
    """Remove every staging row derived from these fetches (before re-deriving them)."""
    if not fetch_ids:
        return 0
    ids = [str(f) for f in fetch_ids]
    removed = 0
    with conn.cursor() as cur:
        for table in (*DERIVED_TABLES, "payload_quarantine"):
            cur.execute(f"DELETE FROM staging.{table} WHERE fetch_id = ANY(%s::uuid[])", (ids,))
            removed += cur.rowcount
    return removed


def load_json(body: bytes, error: type[SourceParseError], endpoint: str) -> Any:
    """Decode a JSON body (UTF-8, BOM tolerated) or raise ``error`` saying why it is unusable."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(endpoint, f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise error(endpoint, "empty body")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            endpoint, f"invalid or truncated JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise error(endpoint, "JSON nested too deeply") from None


#: what a malformed item can raise while being read; each is quarantined, never propagated
ITEM_ERRORS: tuple[type[Exception], ...] = (
    BadItem,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    OverflowError,
)


def text(value: object, field_name: str) -> str | None:
    """A short text field (a name, a status code); numbers become text, anything else a BadItem."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value[:500]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise BadItem(f"{field_name}: not text: {type(value).__name__}")
