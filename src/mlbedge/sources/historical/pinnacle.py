"""Pinnacle 2016 (``pinnacle.data``): games with corrected start times, and every line snapshot.

Two files, see ``shared/data/mlb/SOURCES.md`` §2:

- **games** (``pinnacle_mlb2016_games.csv``, one row per game, key ``pin_game_no``) into
  ``staging.pinnacle_games``. The upstream event time is shifted by +3 h (Eastern wall-clock
  time stored as if it were Pacific); the file carries the corrected ``start_time_utc`` next to
  the raw value, and both are kept. Teams are the full names of 2016 (``teams.codes("pinnacle")``).
  The All-Star game (``is_all_star`` = 1, ``American League`` @ ``National League``) is a real
  game with no franchise on either side: it is kept with null team ids.
- **lines** (``pinnacle_mlb2016_lines.csv.gz``, gzip or plain CSV) into ``staging.pinnacle_lines``,
  one row per ``(pin_game_no, EnteredDateTimeUTC)``; ``observed_at`` is the snapshot's own time
  (UTC, milliseconds). "Team1" is the away team, "Team2" the home team. An empty cell means the
  market was not offered in that snapshot and stays null.

Line flags (comma-separated in ``flags``):

- ``absurd_price``: a market of the snapshot had a price no book quotes (see the thresholds
  below). That market's line and both prices are null in staging, because the two sides of a
  quote come from one number; the raw file in ``raw.files`` keeps the original.
- ``after_start``: stamped after the game's corrected start. Never a pre-game quote (rain delays,
  postponements, late moves); whoever wants the closing line stops at the start.
- ``duplicate``: more than one row had this game and time. The last row in file order is kept
  (a later entry for the same instant supersedes an earlier one); the others are quarantined.

Snapshots whose ``pin_game_no`` is not a game of the games file are quarantined, as are rows with
a bad time, a non-numeric price or the wrong number of fields. Row numbers (quarantine and
messages) are 1-based data rows: row 1 is the line after the header.

Market odds from Pinnacle, via the ``pinnacle.data`` R package (Blume & Yan), GPL-3.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psycopg
from rich.progress import Progress

from mlbedge.domain import teams
from mlbedge.sources.historical.common import (
    DataFileError,
    LoadSummary,
    RawFile,
    decode_lines,
    decompressed,
    load_guarded,
    load_lock,
    outside_season,
    season_in_name,
    store_raw_file,
    write_parsed,
)

SOURCE = "pinnacle"
GAMES_TABLE = "staging.pinnacle_games"
LINES_TABLE = "staging.pinnacle_lines"
GAMES_KEY = ["pin_game_no"]
LINES_KEY = ["pin_game_no", "observed_at"]

GAME_COLUMNS = (
    "pin_game_no",
    "start_time_raw_utc",
    "start_time_utc",
    "game_date_et",
    "away_team",
    "home_team",
    "doubleheader_game",
    "away_starting_pitcher",
    "home_starting_pitcher",
    "away_score",
    "home_score",
    "is_all_star",
)
LINE_COLUMNS = (
    "pin_game_no",
    "EnteredDateTimeUTC",
    "SpreadTeam1",
    "SpreadUS1",
    "SpreadUS2",
    "MoneyUS1",
    "MoneyUS2",
    "TotalPoints",
    "TotalUSOver",
    "TotalUSUnder",
)

INT32_MAX = 2**31 - 1

# The names the All-Star game's two sides carry instead of franchises.
ALL_STAR_SIDES = ("AMERICAN LEAGUE", "NATIONAL LEAGUE")

# The corrected start is the raw upstream time minus this shift (SOURCES.md §2).
UPSTREAM_SHIFT = "3h"

# Every regular season ends with a day on which all 30 teams play (14-15 games in 2016), while
# no postseason day has more than 4 games. Later games are the postseason.
REGULAR_SEASON_MIN_GAMES = 10

# Staging markets: (line column or None, first price, second price) -> the raw columns.
MARKETS: dict[str, tuple[str | None, str, str]] = {
    "rl": ("SpreadTeam1", "SpreadUS1", "SpreadUS2"),
    "ml": (None, "MoneyUS1", "MoneyUS2"),
    "total": ("TotalPoints", "TotalUSOver", "TotalUSUnder"),
}
PRICE_COLUMNS = ("SpreadUS1", "SpreadUS2", "MoneyUS1", "MoneyUS2", "TotalUSOver", "TotalUSUnder")
POINT_COLUMNS = ("SpreadTeam1", "TotalPoints")

# |odds| below 100 is not an American price. Above that, what a book can quote depends on the
# market. In the 2016 file genuine moneylines reach 485 and the broken ones are 880/-1113 and
# -1940/1357. Run-line and total prices sit near even money (genuine maxima 290 and 192), while
# the broken totals are 726-1309 on one side and up to -105114 on the other. The thresholds sit
# in those gaps; a run-line price past 1000 would be as absurd as a moneyline one.
MIN_ABS_ODDS = 100
MAX_ABS_ODDS = {"ml": 1000, "rl": 1000, "total": 400}

# The staging tables' columns in order, with their Polars types.
GAME_SCHEMA: dict[str, pl.DataType] = {
    "pin_game_no": pl.Int32(),
    "game_date_et": pl.Date(),
    "start_time_utc": pl.Datetime("ms", "UTC"),
    "start_time_raw_utc": pl.Datetime("ms", "UTC"),
    "away_team_id": pl.Int32(),
    "home_team_id": pl.Int32(),
    "doubleheader_game": pl.Int16(),
    "away_pitcher": pl.String(),
    "home_pitcher": pl.String(),
    "away_score": pl.Int32(),
    "home_score": pl.Int32(),
    "is_all_star": pl.Boolean(),
    "flags": pl.String(),
}
LINE_SCHEMA: dict[str, pl.DataType] = {
    "pin_game_no": pl.Int32(),
    "observed_at": pl.Datetime("ms", "UTC"),
    "away_rl": pl.Float64(),
    "away_rl_odds": pl.Int32(),
    "home_rl_odds": pl.Int32(),
    "away_ml": pl.Int32(),
    "home_ml": pl.Int32(),
    "total": pl.Float64(),
    "over_odds": pl.Int32(),
    "under_odds": pl.Int32(),
    "flags": pl.String(),
}
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "row_number": pl.Int32(),
    "reason": pl.String(),
    "raw_row": pl.String(),
}

GAME_FLAGS = (
    "postseason",  # after the last day of the regular season
    "date_mismatch",  # game_date_et is not the Eastern date of the corrected start
    "unexpected_shift",  # raw time minus corrected start is not the known 3 h
)
LINE_FLAGS = ("absurd_price", "after_start", "duplicate")


# --- public API -----------------------------------------------------------------------------


def parse_pinnacle_games(raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse the games file without touching a database.

    Returns ``(games, quarantined)``: ``games`` has exactly the ``staging.pinnacle_games``
    columns (:data:`GAME_SCHEMA`); ``quarantined`` has ``row_number``, ``reason``, ``raw_row``
    and the row's ``pin_game_no`` when it had a readable one. Raises :class:`DataFileError` when
    the file is not a Pinnacle games file (missing columns).
    """
    games, quarantined, _ = _parse_games(raw)
    return games, quarantined


def _parse_games(raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    rows, note = _read_rows(raw, GAME_COLUMNS, "games")
    codes = teams.codes(SOURCE)
    typed = rows.with_columns(
        pin_game_no=_integer("pin_game_no"),
        start_time_utc=_utc(pl.col("start_time_utc")),
        start_time_raw_utc=_utc(pl.col("start_time_raw_utc")),
        game_date_et=pl.col("game_date_et").str.to_date("%Y-%m-%d", strict=False),
        doubleheader_game=_integer("doubleheader_game"),
        away_score=_integer("away_score"),
        home_score=_integer("home_score"),
        all_star_flag=_integer("is_all_star"),
        _away=_name_key(pl.col("away_team")),
        _home=_name_key(pl.col("home_team")),
    ).with_columns(
        is_all_star=pl.col("all_star_flag") == 1,
        away_team_id=pl.col("_away").replace_strict(codes, default=None, return_dtype=pl.Int32),
        home_team_id=pl.col("_home").replace_strict(codes, default=None, return_dtype=pl.Int32),
    )
    all_star = pl.col("is_all_star").fill_null(False)
    season = season_in_name(raw.name)
    checks = [
        pl.col("line_reason"),
        _field_count_check(),
        _bad(
            "pin_game_no",
            ~pl.col("pin_game_no").is_between(1, INT32_MAX).fill_null(False),
            "is not a game number",
        ),
        _bad("start_time_utc", pl.col("start_time_utc").is_null(), "is not an ISO UTC time"),
        _bad(
            "start_time_raw_utc",
            pl.col("start_time_raw_utc").is_null() & pl.col("start_time_raw_utc_text").is_not_null(),
            "is not an ISO UTC time",
        ),
        _bad("game_date_et", pl.col("game_date_et").is_null(), "is not a YYYY-MM-DD date"),
        _bad(
            "game_date_et",
            outside_season(pl.col("game_date_et"), season),
            f"is not in the file's season {season}",
        ),
        _bad(
            "doubleheader_game",
            ~pl.col("doubleheader_game").is_in([0, 1, 2]).fill_null(False),
            "is not 0, 1 or 2",
        ),
        _bad("away_score", _bad_optional_count("away_score"), "is not a score"),
        _bad("home_score", _bad_optional_count("home_score"), "is not a score"),
        _bad("is_all_star", ~pl.col("all_star_flag").is_in([0, 1]).fill_null(False), "is not 0 or 1"),
        *(_team_check(side, all_star) for side in ("away", "home")),
    ]
    typed = typed.with_columns(reason=_reasons(checks))
    typed = _dedupe(typed, ["pin_game_no"], "pin_game_no", keep="first")
    bad = typed.filter(pl.col("reason").is_not_null())
    games = _games(typed.filter(pl.col("reason").is_null()))
    quarantined = bad.select(
        pl.col("row_number").cast(pl.Int32),
        "reason",
        "raw_row",
        pl.col("pin_game_no").cast(pl.Int32, strict=False),
    )
    return games, quarantined, note


def parse_pinnacle_lines(
    raw: RawFile, games: pl.DataFrame, quarantined_games: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse the line snapshots (gzip or plain CSV) without touching a database.

    ``games`` is the frame from :func:`parse_pinnacle_games` (its ``pin_game_no`` and
    ``start_time_utc`` are used); ``quarantined_games`` its quarantine frame, so that a snapshot
    of a quarantined game says so. Returns ``(lines, quarantined)``: ``lines`` has exactly the
    ``staging.pinnacle_lines`` columns (:data:`LINE_SCHEMA`); ``quarantined`` has
    ``row_number``, ``reason``, ``raw_row``.
    """
    return _parse_lines(raw, games, quarantined_games).pair


def load_pinnacle(
    conn: psycopg.Connection,
    games_path: str | Path,
    lines_path: str | Path,
    *,
    progress: Progress | None = None,
) -> list[LoadSummary]:
    """Load the Pinnacle games file and its line snapshots; one :class:`LoadSummary` per file.

    Each file's bytes go into ``raw.files`` before it is parsed; bad rows go to
    ``staging.quarantine``. Idempotent: loading the same files again writes nothing. Each file
    loads in its own transaction; a file that cannot be loaded is reported in its summary's
    ``error`` (the lines need the games: they are skipped when the games file fails). A lines
    file cut short keeps the snapshots read before the cut and is reported as ``partial``.
    """
    task = progress.add_task("Pinnacle games", total=2) if progress is not None else None
    parsed_games: list[tuple[pl.DataFrame, pl.DataFrame]] = []

    def load_games(path: Path) -> LoadSummary:
        raw = RawFile.read(path)
        store_raw_file(conn, SOURCE, raw)
        games, bad, note = _parse_games(raw)
        summary = write_parsed(
            conn, SOURCE, raw, table=GAMES_TABLE, frame=games, key=GAMES_KEY,
            quarantined=bad, rows_read=games.height + bad.height, flag_order=GAME_FLAGS,
        )  # fmt: skip
        summary.error = f"{raw.path}: {note}" if note else None
        parsed_games.append((games, bad))
        return summary

    def load_lines(path: Path) -> LoadSummary:
        raw = RawFile.read(path)
        store_raw_file(conn, SOURCE, raw)
        games, bad = parsed_games[0]
        parsed = _parse_lines(raw, games, bad)
        summary = write_parsed(
            conn, SOURCE, raw, table=LINES_TABLE, frame=parsed.lines, key=LINES_KEY,
            quarantined=parsed.quarantined, rows_read=parsed.rows_read, flag_order=LINE_FLAGS,
        )  # fmt: skip
        summary.error = f"{raw.path}: {parsed.note}" if parsed.note else None
        return summary

    with load_lock(conn):
        games_summary = load_guarded(conn, SOURCE, Path(games_path), load_games)
        if progress is not None and task is not None:
            progress.update(task, advance=1, description="Pinnacle lines")
        if parsed_games:
            lines_summary = load_guarded(conn, SOURCE, Path(lines_path), load_lines)
        else:
            lines_summary = LoadSummary(
                source=SOURCE,
                file_name=Path(lines_path).name,
                error=f"{lines_path}: not loaded, its games file could not be loaded",
            )
        if progress is not None and task is not None:
            progress.advance(task)
    return [games_summary, lines_summary]


# --- reading --------------------------------------------------------------------------------


def _read_rows(raw: RawFile, required: tuple[str, ...], kind: str) -> tuple[pl.DataFrame, str | None]:
    """One row per non-blank data line: ``row_number``, ``raw_row``, ``line_reason`` (a line that
    cannot be read: not UTF-8, a NUL byte), ``n_fields``, one text column per required field
    (stripped; empty is null), plus ``<field>_text`` copies for messages; and a note when the
    file (a gzip stream) was cut short.
    """
    content, note = decompressed(raw)
    lines = decode_lines(content, fallback=None)
    first = lines["raw_row"][0] if lines.height else ""
    header = [name.strip().strip('"').strip() for name in first.split(",")]
    missing = [name for name in required if name not in header]
    if missing:
        raise DataFileError(raw.path, f"not a Pinnacle {kind} file: header lacks {', '.join(missing)}", row=0)
    body = (
        lines.slice(1)
        .select((pl.col("line_number") - 1).alias("row_number"), "raw_row", "line_reason")
        .filter(pl.col("raw_row").str.strip_chars() != "")
    )
    # The Pinnacle files quote nothing; a quoted cell is unwrapped, a comma inside quotes
    # would show up as a wrong field count.
    # split_exact yields one struct field per header column (missing ones null, extra ones
    # dropped: the field count is checked on its own), far faster than a list per row.
    split = body.with_columns(
        pl.col("raw_row").str.split_exact(",", len(header) - 1).alias("_fields"),
        n_fields=pl.col("raw_row").str.count_matches(",", literal=True) + 1,
        n_header=pl.lit(len(header), pl.UInt32),
    ).unnest("_fields")
    cells = []
    for name in required:
        cell = pl.col(f"field_{header.index(name)}").str.strip_chars().str.strip_chars('"')
        cells.append(pl.when(cell.str.len_chars() > 0).then(cell).alias(name))
    frame = split.select(
        pl.col("row_number").cast(pl.Int32),
        "raw_row",
        "line_reason",
        pl.col("n_fields").cast(pl.UInt32),
        "n_header",
        *cells,
    ).with_columns(pl.col(name).alias(f"{name}_text") for name in required)
    return frame, note


# --- typing helpers -------------------------------------------------------------------------


def _utc(text: pl.Expr) -> pl.Expr:
    """ISO 8601 UTC (``2016-04-03T17:05:00Z``, optional fraction) as a UTC datetime; else null."""
    return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="ms", strict=False)


def _integer(name: str) -> pl.Expr:
    """A whole number written as ``12`` or ``12.0``; null when empty or not a whole number."""
    value = pl.col(name).str.strip_prefix("+").cast(pl.Float64, strict=False)
    return pl.when(value == value.round(0)).then(value).cast(pl.Int64, strict=False)


def _number(name: str) -> pl.Expr:
    """A finite number (``+130`` and ``1.5`` alike); null when empty or not a number."""
    value = pl.col(name).str.strip_prefix("+").cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def _name_key(name: pl.Expr) -> pl.Expr:
    """A team name normalised the way ``teams.codes`` keys are (upper case, single spaces)."""
    return name.str.to_uppercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _bad(name: str, condition: pl.Expr, what: str) -> pl.Expr:
    """``"<name> '<value>' <what>"`` where ``condition`` holds, else null."""
    return pl.when(condition).then(pl.format(f"{name} '{{}}' {what}", pl.col(f"{name}_text").fill_null("")))


def _bad_optional_count(name: str) -> pl.Expr:
    """A non-empty cell that is not a whole number from 0 to 999."""
    return pl.col(f"{name}_text").is_not_null() & ~pl.col(name).is_between(0, 999).fill_null(False)


def _field_count_check() -> pl.Expr:
    return pl.when(pl.col("n_fields") != pl.col("n_header")).then(
        pl.format("{} fields, the header has {}", pl.col("n_fields"), pl.col("n_header"))
    )


def _team_check(side: str, all_star: pl.Expr) -> pl.Expr:
    """An unknown name; for the All-Star game a name other than the two leagues."""
    column = f"{side}_team"
    known = pl.col(f"{side}_team_id").is_not_null()
    league = pl.col(f"_{side}").is_in(ALL_STAR_SIDES).fill_null(False)
    return (
        pl.when(all_star & ~league)
        .then(
            pl.format(f"all-star game with {column} '{{}}' (expected a league)", pl.col(column).fill_null(""))
        )
        .when(~all_star & ~known)
        .then(pl.format(f"unknown pinnacle team name '{{}}' ({column})", pl.col(column).fill_null("")))
    )


def _dedupe(typed: pl.DataFrame, key: list[str], what: str, *, keep: str) -> pl.DataFrame:
    """Give every valid row but one per ``key`` a reason naming the row that was kept."""
    valid = pl.col("reason").is_null()
    kept_row = (
        pl.col("row_number").filter(valid).first()
        if keep == "first"
        else pl.col("row_number").filter(valid).last()
    )
    typed = typed.with_columns(
        _n_key=valid.sum().over(key),
        _kept=kept_row.over(key),
    )
    duplicate = valid & (pl.col("_n_key") > 1) & (pl.col("row_number") != pl.col("_kept"))
    return typed.with_columns(
        reason=pl.when(duplicate)
        .then(pl.format(f"duplicate {what}: row {{}} is kept", pl.col("_kept")))
        .otherwise(pl.col("reason")),
        duplicate=valid & (pl.col("_n_key") > 1) & (pl.col("row_number") == pl.col("_kept")),
    ).drop("_n_key", "_kept")


def _reasons(checks: list[pl.Expr]) -> pl.Expr:
    """Every failed check of a row joined with "; "; null when the row is fine."""
    joined = pl.concat_str(checks, separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def _flags(names: tuple[str, ...]) -> pl.Expr:
    return pl.concat_str(
        [pl.when(pl.col(n)).then(pl.lit(n)) for n in names], separator=",", ignore_nulls=True
    )


# --- games ----------------------------------------------------------------------------------


def _games(valid: pl.DataFrame) -> pl.DataFrame:
    if valid.is_empty():
        return pl.DataFrame(schema=GAME_SCHEMA)
    games = valid.with_columns(
        # The All-Star row names no starters ("AL BATTING LAST", "NL BATTING FIRST").
        away_pitcher=pl.when(~pl.col("is_all_star")).then(pl.col("away_starting_pitcher")),
        home_pitcher=pl.when(~pl.col("is_all_star")).then(pl.col("home_starting_pitcher")),
        away_team_id=pl.when(~pl.col("is_all_star")).then(pl.col("away_team_id")),
        home_team_id=pl.when(~pl.col("is_all_star")).then(pl.col("home_team_id")),
        _games_on_day=pl.len().over("game_date_et"),
    )
    last_regular_day = (
        pl.col("game_date_et").filter(pl.col("_games_on_day") >= REGULAR_SEASON_MIN_GAMES).max()
    )
    games = games.with_columns(
        postseason=(pl.col("game_date_et") > last_regular_day).fill_null(False),
        date_mismatch=pl.col("start_time_utc").dt.convert_time_zone("America/New_York").dt.date()
        != pl.col("game_date_et"),
        unexpected_shift=(
            pl.col("start_time_raw_utc") - pl.col("start_time_utc") != pl.duration(hours=3)
        ).fill_null(False),
    ).with_columns(flags=_flags(GAME_FLAGS))
    return games.sort("pin_game_no").select(pl.col(name).cast(dtype) for name, dtype in GAME_SCHEMA.items())


# --- lines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ParsedLines:
    lines: pl.DataFrame
    quarantined: pl.DataFrame
    rows_read: int
    note: str | None = None

    @property
    def pair(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return self.lines, self.quarantined


def _parse_lines(raw: RawFile, games: pl.DataFrame, quarantined_games: pl.DataFrame | None) -> _ParsedLines:
    rows, note = _read_rows(raw, LINE_COLUMNS, "lines")
    starts = games.select(
        pl.col("pin_game_no").cast(pl.Int64),
        pl.col("start_time_utc").alias("_start"),
        pl.lit(True).alias("_known"),
    )
    rejected: list[int] = []
    if quarantined_games is not None and "pin_game_no" in quarantined_games.columns:
        rejected = quarantined_games["pin_game_no"].drop_nulls().cast(pl.Int64).to_list()
    typed = (
        rows.with_columns(
            pin_game_no=_integer("pin_game_no"),
            observed_at=_utc(pl.col("EnteredDateTimeUTC")),
            **{name: _number(name) for name in (*PRICE_COLUMNS, *POINT_COLUMNS)},
        )
        .join(starts, on="pin_game_no", how="left")
        .sort("row_number")
    )
    game_no = pl.col("pin_game_no")
    checks = [
        pl.col("line_reason"),
        _field_count_check(),
        _bad("pin_game_no", game_no.is_null(), "is not a game number"),
        pl.when(game_no.is_not_null() & pl.col("_known").is_null()).then(
            pl.when(game_no.is_in(rejected))
            .then(pl.format("pin_game_no {} is a quarantined game of the games file", game_no))
            .otherwise(pl.format("pin_game_no {} is not in the games file", game_no))
        ),
        _bad("EnteredDateTimeUTC", pl.col("observed_at").is_null(), "is not an ISO UTC time"),
        *(
            _bad(name, pl.col(f"{name}_text").is_not_null() & pl.col(name).is_null(), "is not a price")
            for name in PRICE_COLUMNS
        ),
        *(
            _bad(name, pl.col(f"{name}_text").is_not_null() & pl.col(name).is_null(), "is not a number")
            for name in POINT_COLUMNS
        ),
        *(
            _bad(name, (pl.col(name) != pl.col(name).round(0)).fill_null(False), "is not a whole price")
            for name in PRICE_COLUMNS
        ),
    ]
    typed = typed.with_columns(reason=_reasons(checks))
    typed = _dedupe(
        typed, ["pin_game_no", "observed_at"], "snapshot (same pin_game_no and time)", keep="last"
    )
    quarantined = typed.filter(pl.col("reason").is_not_null()).select(
        pl.col("row_number").cast(pl.Int32), "reason", "raw_row"
    )
    return _ParsedLines(
        lines=_lines(typed.filter(pl.col("reason").is_null())),
        quarantined=quarantined,
        rows_read=rows.height,
        note=note,
    )


def _absurd(market: str) -> pl.Expr:
    _, first, second = MARKETS[market]
    out = pl.lit(False)
    for name in (first, second):
        size = pl.col(name).abs()
        out = out | ((size < MIN_ABS_ODDS) | (size > MAX_ABS_ODDS[market])).fill_null(False)
    return out


def _lines(valid: pl.DataFrame) -> pl.DataFrame:
    if valid.is_empty():
        return pl.DataFrame(schema=LINE_SCHEMA)
    lines = valid.with_columns(**{f"_absurd_{m}": _absurd(m) for m in MARKETS})

    def keep(market: str, column: str) -> pl.Expr:
        return pl.when(~pl.col(f"_absurd_{market}")).then(pl.col(column))

    lines = lines.with_columns(
        away_rl=keep("rl", "SpreadTeam1"),
        away_rl_odds=keep("rl", "SpreadUS1"),
        home_rl_odds=keep("rl", "SpreadUS2"),
        away_ml=keep("ml", "MoneyUS1"),
        home_ml=keep("ml", "MoneyUS2"),
        total=keep("total", "TotalPoints"),
        over_odds=keep("total", "TotalUSOver"),
        under_odds=keep("total", "TotalUSUnder"),
        absurd_price=pl.any_horizontal(f"_absurd_{m}" for m in MARKETS),
        after_start=pl.col("observed_at") > pl.col("_start"),
    ).with_columns(flags=_flags(LINE_FLAGS))
    return lines.sort(LINES_KEY).select(pl.col(name).cast(dtype) for name, dtype in LINE_SCHEMA.items())
