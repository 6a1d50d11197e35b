"""Retrosheet game logs (``GLYYYY.TXT``) into ``staging.retrosheet_games``, one row per game.

A game log has no header: one line per regular-season game, 161 comma-separated fields, text
fields in double quotes (and a quoted field may hold commas, e.g. ``completion`` and
``additional_info``). Line endings are LF or CRLF (Retrosheet ships CRLF). The field names are
:data:`FIELDS`, in file order; see ``shared/data/mlb/SOURCES.md`` §3.

What is kept: the game's key (date, home team, ``game_num``), teams as MLB ids
(``teams.codes("retrosheet")``) and as written, day/night, park, attendance, length, score, line
scores, both starting pitchers (id and name), and every per-team batting, pitching and fielding
total (:data:`TEAM_STAT_FIELDS`) as the ``stats`` jsonb, keyed by field name (``{"v_ab": 36,
...}``); the umpires (``ump_hp_id`` ... ``ump_rf_name``, null where "(none)"), both managers,
the completion of a suspended game (field 14 as written, and ``completion_date``, the day its
result became known), forfeit, protest, ``additional_info`` and ``htbf`` (2020: the park's team,
listed as home, batted first). The 18 starting-lineup slots go to ``staging.retrosheet_lineups``
(:data:`LINEUP_SCHEMA`, one row per game, side and batting order). ``game_num`` is 0 for a single game, 1/2 for a doubleheader (the A/B of a three-team
doubleheader map to 1/2). There is no start time: only D/N.

A line with the wrong number of fields, a badly quoted field, a bad date, an unknown team, a bad
``game_num``, a non-numeric count, a lineup position outside 1-10 or a completion without its
yyyymmdd date is quarantined with a reason naming the field; a second line
with the same date, home team and ``game_num`` is quarantined as a duplicate. Row numbers are
1-based line numbers (the files have no header).

    The information used here was obtained free of
    charge from and is copyrighted by Retrosheet.  Interested
    parties may contact Retrosheet at "www.retrosheet.org".
"""

from __future__ import annotations

import io
from collections.abc import Iterable
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
    load_each,
    outside_season,
    season_in_name,
    store_raw_file,
    write_parsed,
)
from mlbedge.storage.bulk import upsert_frame

SOURCE = "retrosheet"
TABLE = "staging.retrosheet_games"
KEY = ["date", "home_team_id", "game_num"]

# The 161 fields of a game log, in file order (Retrosheet's published field list).
FIELDS: tuple[str, ...] = (
    # game
    "date", "game_num", "day_of_week", "v_team", "v_league", "v_game_num", "h_team", "h_league",
    "h_game_num", "v_score", "h_score", "length_outs", "day_night", "completion", "forfeit",
    "protest", "park_id", "attendance", "duration_min", "v_line_score", "h_line_score",
    # visitors: batting, pitching, fielding
    "v_ab", "v_h", "v_2b", "v_3b", "v_hr", "v_rbi", "v_sh", "v_sf", "v_hbp", "v_bb", "v_ibb", "v_k",
    "v_sb", "v_cs", "v_gidp", "v_ci", "v_lob",
    "v_pitchers_used", "v_ind_er", "v_team_er", "v_wp", "v_balk",
    "v_po", "v_a", "v_e", "v_pb", "v_dp", "v_tp",
    # home: batting, pitching, fielding
    "h_ab", "h_h", "h_2b", "h_3b", "h_hr", "h_rbi", "h_sh", "h_sf", "h_hbp", "h_bb", "h_ibb", "h_k",
    "h_sb", "h_cs", "h_gidp", "h_ci", "h_lob",
    "h_pitchers_used", "h_ind_er", "h_team_er", "h_wp", "h_balk",
    "h_po", "h_a", "h_e", "h_pb", "h_dp", "h_tp",
    # umpires
    "ump_hp_id", "ump_hp_name", "ump_1b_id", "ump_1b_name", "ump_2b_id", "ump_2b_name",
    "ump_3b_id", "ump_3b_name", "ump_lf_id", "ump_lf_name", "ump_rf_id", "ump_rf_name",
    # managers and pitchers of record
    "v_manager_id", "v_manager_name", "h_manager_id", "h_manager_name",
    "winning_pitcher_id", "winning_pitcher_name", "losing_pitcher_id", "losing_pitcher_name",
    "saving_pitcher_id", "saving_pitcher_name", "gwrbi_batter_id", "gwrbi_batter_name",
    "v_starting_pitcher_id", "v_starting_pitcher_name", "h_starting_pitcher_id", "h_starting_pitcher_name",
    # starting lineups: id, name, defensive position (1-9, 10 = DH)
    "v_bat1_id", "v_bat1_name", "v_bat1_pos", "v_bat2_id", "v_bat2_name", "v_bat2_pos",
    "v_bat3_id", "v_bat3_name", "v_bat3_pos", "v_bat4_id", "v_bat4_name", "v_bat4_pos",
    "v_bat5_id", "v_bat5_name", "v_bat5_pos", "v_bat6_id", "v_bat6_name", "v_bat6_pos",
    "v_bat7_id", "v_bat7_name", "v_bat7_pos", "v_bat8_id", "v_bat8_name", "v_bat8_pos",
    "v_bat9_id", "v_bat9_name", "v_bat9_pos",
    "h_bat1_id", "h_bat1_name", "h_bat1_pos", "h_bat2_id", "h_bat2_name", "h_bat2_pos",
    "h_bat3_id", "h_bat3_name", "h_bat3_pos", "h_bat4_id", "h_bat4_name", "h_bat4_pos",
    "h_bat5_id", "h_bat5_name", "h_bat5_pos", "h_bat6_id", "h_bat6_name", "h_bat6_pos",
    "h_bat7_id", "h_bat7_name", "h_bat7_pos", "h_bat8_id", "h_bat8_name", "h_bat8_pos",
    "h_bat9_id", "h_bat9_name", "h_bat9_pos",
    # data quality
    "additional_info", "acquisition_info",
)  # fmt: skip
N_FIELDS = 161

# Per-team batting, pitching and fielding totals: fields 22-77, every one a count.
TEAM_STAT_FIELDS: tuple[str, ...] = FIELDS[FIELDS.index("v_ab") : FIELDS.index("h_tp") + 1]
# Other counts; empty is allowed (attendance is empty for a game without fans).
COUNT_FIELDS: tuple[str, ...] = ("v_game_num", "h_game_num", "length_outs", "attendance", "duration_min")

# One CSV field: quoted (a quote inside doubled) or bare (no quote, no comma). A line of such
# fields is the only kind handed to the CSV reader, so one malformed line cannot fail the file.
_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
_WELL_FORMED = rf"^{_FIELD}(?:,{_FIELD})*$"

# Umpire positions in file order (fields 78-89); lf/rf are rarely staffed.
UMPIRE_POSITIONS: tuple[str, ...] = ("hp", "1b", "2b", "3b", "lf", "rf")
# The 18 lineup slots (side prefix, batting order): fields 106-159.
LINEUP_SLOTS: tuple[tuple[str, int], ...] = tuple((side, n) for side in ("v", "h") for n in range(1, 10))

# game_num as written -> as stored: A/B are the games of a three-team doubleheader.
GAME_NUMBERS = {"0": 0, "1": 1, "2": 2, "A": 1, "B": 2}

# The staging.retrosheet_games columns in table order, with their Polars types.
GAME_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "home_team_id": pl.Int32(),
    "game_num": pl.Int16(),
    "away_team_id": pl.Int32(),
    "away_code": pl.String(),
    "home_code": pl.String(),
    "day_of_week": pl.String(),
    "day_night": pl.String(),
    "park_id": pl.String(),
    "attendance": pl.Int32(),
    "length_outs": pl.Int32(),
    "length_minutes": pl.Int32(),
    "away_score": pl.Int32(),
    "home_score": pl.Int32(),
    "away_line_score": pl.String(),
    "home_line_score": pl.String(),
    "away_starter_id": pl.String(),
    "away_starter_name": pl.String(),
    "home_starter_id": pl.String(),
    "home_starter_name": pl.String(),
    "stats": pl.String(),  # JSON text; the column is jsonb
    "file_sha256": pl.String(),
    "file_row": pl.Int32(),
    "completion": pl.String(),
    "completion_date": pl.Date(),
    "completion_park_id": pl.String(),
    "forfeit": pl.String(),
    "protest": pl.String(),
    **{f"ump_{pos}_{part}": pl.String() for pos in UMPIRE_POSITIONS for part in ("id", "name")},
    "away_manager_id": pl.String(),
    "home_manager_id": pl.String(),
    "additional_info": pl.String(),
    "htbf": pl.Boolean(),
}

LINEUP_TABLE = "staging.retrosheet_lineups"
LINEUP_KEY = ["date", "home_team_id", "game_num", "side", "batting_order"]
# The staging.retrosheet_lineups columns: one row per game x side x batting slot.
LINEUP_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "home_team_id": pl.Int32(),
    "game_num": pl.Int16(),
    "side": pl.String(),
    "batting_order": pl.Int16(),
    "team_id": pl.Int32(),
    "player_id": pl.String(),
    "player_name": pl.String(),
    "position": pl.Int16(),
}


def parse_retrosheet(raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse one game log without touching a database.

    Returns ``(games, quarantined)``: ``games`` has exactly the ``staging.retrosheet_games``
    columns (:data:`GAME_SCHEMA`, ``stats`` as JSON text); ``quarantined`` has ``row_number``,
    ``reason``, ``raw_row`` for every line that is not a game. Raises :class:`DataFileError`
    when the file holds no lines at all.
    """
    games, _, quarantined = parse_retrosheet_lineups(raw)
    return games, quarantined


def parse_retrosheet_lineups(raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Like :func:`parse_retrosheet`, and also the starting lineups: ``(games, lineups, quarantined)``.

    ``lineups`` has the ``staging.retrosheet_lineups`` columns (:data:`LINEUP_SCHEMA`): one row
    per game, side and batting slot whose player id is present.
    """
    lines = _read_lines(raw)
    shaped = lines.filter(pl.col("reason").is_null())
    fields = _split_fields(raw, shaped)
    typed = _typed(fields)
    season = season_in_name(raw.name)
    typed = typed.with_columns(
        reason=pl.when(outside_season(pl.col("_date"), season))
        .then(pl.format(f"date (field 1) '{{}}' is not in the file's season {season}", pl.col("date")))
        .otherwise(pl.col("reason"))
    )
    typed = _dedupe(typed)
    valid = typed.filter(pl.col("reason").is_null())
    games = _games(valid, raw)
    lineups = _lineups(valid)
    quarantined = pl.concat(
        [
            lines.filter(pl.col("reason").is_not_null()).select("row_number", "reason", "raw_row"),
            typed.filter(pl.col("reason").is_not_null()).select("row_number", "reason", "raw_row"),
        ]
    ).sort("row_number")
    return games, lineups, quarantined


def load_retrosheet_files(
    conn: psycopg.Connection,
    paths: Iterable[str | Path],
    *,
    progress: Progress | None = None,
) -> list[LoadSummary]:
    """Load Retrosheet game logs into ``staging.retrosheet_games``; one :class:`LoadSummary` per file.

    Each file's bytes go into ``raw.files`` before it is parsed; bad lines go to
    ``staging.quarantine``. Idempotent: loading the same files again writes nothing. The caller
    owns the transaction (nothing is committed here).
    """
    return load_each(
        paths, "Retrosheet", lambda path: _load_file(conn, path), progress, conn=conn, source=SOURCE
    )


def _load_file(conn: psycopg.Connection, path: Path) -> LoadSummary:
    raw = RawFile.read(path)
    store_raw_file(conn, SOURCE, raw)
    games, lineups, bad = parse_retrosheet_lineups(raw)
    summary = write_parsed(
        conn, SOURCE, raw, table=TABLE, frame=games, key=KEY, quarantined=bad,
        rows_read=games.height + bad.height,
    )  # fmt: skip
    # A game's lineup is written with it; a quarantined game has none, and a game an older
    # version of this file had (deleted by write_parsed) takes its lineup with it.
    season = season_in_name(raw.name)
    conn.execute(
        f"DELETE FROM {LINEUP_TABLE} l WHERE (%(season)s::int IS NULL OR extract(year FROM l.date) = %(season)s) "
        f"AND NOT EXISTS (SELECT 1 FROM {TABLE} g "
        "WHERE g.date = l.date AND g.home_team_id = l.home_team_id AND g.game_num = l.game_num)",
        {"season": season},
    )
    upsert_frame(conn, LINEUP_TABLE, lineups, key=LINEUP_KEY)
    _drop_orphan_lineups(conn, games)
    return summary


def _drop_orphan_lineups(conn: psycopg.Connection, games: pl.DataFrame) -> None:
    """Lineups of games no longer in the file's season (a newer version dropped or quarantined
    them) go with their games: ``staging.retrosheet_lineups`` never outlives its game."""
    if games.is_empty():
        return
    conn.execute(
        """DELETE FROM staging.retrosheet_lineups l
           WHERE l.date BETWEEN %s AND %s
             AND NOT EXISTS (SELECT 1 FROM staging.retrosheet_games g
                             WHERE g.date = l.date AND g.home_team_id = l.home_team_id
                               AND g.game_num = l.game_num)""",
        (games["date"].min(), games["date"].max()),
    )


# --- reading --------------------------------------------------------------------------------


def _read_lines(raw: RawFile) -> pl.DataFrame:
    """Every non-blank line with ``row_number`` and ``reason`` (null when its shape is right).

    The shape is right when every field is well quoted and there are 161 of them; commas inside
    a quoted field do not count.
    """
    # Older Retrosheet releases are Latin-1 (accented names); each line decodes on its own.
    frame = (
        decode_lines(raw.content, fallback="latin-1")
        .rename({"line_number": "row_number"})
        .filter(pl.col("raw_row").str.strip_chars() != "")
    )
    if frame.is_empty():
        raise DataFileError(raw.path, "no game lines: not a Retrosheet game log")
    unquoted = pl.col("raw_row").str.replace_all(r'"[^"]*"', "")
    n_fields = unquoted.str.count_matches(",", literal=True) + 1
    return frame.with_columns(
        reason=pl.when(pl.col("line_reason").is_not_null())
        .then(pl.col("line_reason"))
        .when(~pl.col("raw_row").str.contains(_WELL_FORMED))
        .then(pl.lit("badly quoted field (a stray or unclosed double quote)"))
        .when(n_fields != N_FIELDS)
        .then(pl.format(f"{{}} fields, a game log line has {N_FIELDS}", n_fields))
    )


def _split_fields(raw: RawFile, shaped: pl.DataFrame) -> pl.DataFrame:
    """The well-shaped lines as one text column per field (stripped; empty is null)."""
    if shaped.is_empty():
        return shaped.with_columns(pl.lit(None, pl.String).alias(name) for name in FIELDS)
    try:
        fields = pl.read_csv(
            io.StringIO("\n".join(shaped["raw_row"])),
            has_header=False,
            new_columns=list(FIELDS),
            infer_schema=False,
            quote_char='"',
        )
    except pl.exceptions.PolarsError as exc:
        raise DataFileError(raw.path, f"cannot split the game log's fields: {exc}") from exc
    if fields.height != shaped.height:
        raise DataFileError(raw.path, f"read {fields.height} games from {shaped.height} lines")
    cleaned = fields.select(
        pl.when(pl.col(name).str.strip_chars() != "").then(pl.col(name).str.strip_chars()).alias(name)
        for name in FIELDS
    )
    return pl.concat([shaped.select("row_number", "raw_row"), cleaned], how="horizontal")


# --- typing ---------------------------------------------------------------------------------


def _bad(name: str, condition: pl.Expr, what: str) -> pl.Expr:
    """``"<name> (field n) '<value>' <what>"`` where ``condition`` holds, else null."""
    where = f"{name} (field {FIELDS.index(name) + 1})"
    return pl.when(condition).then(pl.format(f"{where} '{{}}' {what}", pl.col(name).fill_null("")))


def _count(name: str) -> pl.Expr:
    """A whole number >= 0, or null."""
    return pl.col(name).str.to_integer(strict=False)


def _not_count(name: str, *, required: bool = False) -> pl.Expr:
    present = pl.col(name).is_not_null()
    digits = pl.col(name).str.contains(r"^\d{1,9}$").fill_null(False)
    return (present & ~digits) | (~present if required else pl.lit(False))


def _typed(fields: pl.DataFrame) -> pl.DataFrame:
    """Every line typed, with ``reason`` saying why it is unusable (null when it is fine)."""
    codes = teams.codes(SOURCE)
    typed = fields.with_columns(
        _date=pl.col("date").str.to_date("%Y%m%d", strict=False),
        _game_num=pl.col("game_num")
        .str.to_uppercase()
        .replace_strict(GAME_NUMBERS, default=None, return_dtype=pl.Int16),
        away_code=pl.col("v_team").str.to_uppercase(),
        home_code=pl.col("h_team").str.to_uppercase(),
        # Field 14 of a suspended game: "yyyymmdd,park,visitor score,home score,outs".
        _completion_date=pl.col("completion")
        .str.extract(r"^(\d{8})(?:,|$)")
        .str.to_date("%Y%m%d", strict=False),
    ).with_columns(
        away_team_id=pl.col("away_code").replace_strict(codes, default=None, return_dtype=pl.Int32),
        home_team_id=pl.col("home_code").replace_strict(codes, default=None, return_dtype=pl.Int32),
    )
    checks = [
        _bad(
            "date",
            ~pl.col("date").str.contains(r"^\d{8}$").fill_null(False) | pl.col("_date").is_null(),
            "is not a yyyymmdd date",
        ),
        _bad("game_num", pl.col("_game_num").is_null(), "is not 0, 1, 2, A or B"),
        _bad("v_team", pl.col("away_team_id").is_null(), "is not a known retrosheet team code"),
        _bad("h_team", pl.col("home_team_id").is_null(), "is not a known retrosheet team code"),
        _bad("v_score", _not_count("v_score", required=True), "is not a score"),
        _bad("h_score", _not_count("h_score", required=True), "is not a score"),
        _bad("day_night", ~pl.col("day_night").is_in(["D", "N"]).fill_null(True), "is not D or N"),
        *(
            _bad(name, _not_count(name), "is not a whole number")
            for name in (*COUNT_FIELDS, *TEAM_STAT_FIELDS)
        ),
        _bad(
            "completion",
            pl.col("completion").is_not_null() & pl.col("_completion_date").is_null(),
            "does not start with a yyyymmdd completion date",
        ),
        *(
            _bad(
                f"{side}_bat{n}_pos",
                ~pl.col(f"{side}_bat{n}_pos").str.contains(r"^(?:[1-9]|10)$").fill_null(True),
                "is not a position 1-10",
            )
            for side, n in LINEUP_SLOTS
        ),
    ]
    joined = pl.concat_str(checks, separator="; ", ignore_nulls=True)
    return typed.with_columns(reason=pl.when(joined != "").then(joined))


def _dedupe(typed: pl.DataFrame) -> pl.DataFrame:
    """A second valid line for the same key is quarantined, naming the line that was kept."""
    valid = pl.col("reason").is_null()
    key = ["_date", "home_team_id", "_game_num"]
    typed = typed.with_columns(_kept=pl.col("row_number").filter(valid).first().over(key))
    duplicate = valid & (pl.col("row_number") != pl.col("_kept"))
    return typed.with_columns(
        reason=pl.when(duplicate)
        .then(
            pl.format("duplicate game (same date, home team and game_num): line {} is kept", pl.col("_kept"))
        )
        .otherwise(pl.col("reason"))
    ).drop("_kept")


def _games(valid: pl.DataFrame, raw: RawFile) -> pl.DataFrame:
    if valid.is_empty():
        return pl.DataFrame(schema=GAME_SCHEMA)
    games = valid.with_columns(
        date=pl.col("_date"),
        game_num=pl.col("_game_num"),
        attendance=_count("attendance"),
        length_outs=_count("length_outs"),
        length_minutes=_count("duration_min"),
        away_score=_count("v_score"),
        home_score=_count("h_score"),
        away_line_score=pl.col("v_line_score"),
        home_line_score=pl.col("h_line_score"),
        away_starter_id=pl.col("v_starting_pitcher_id"),
        away_starter_name=pl.col("v_starting_pitcher_name"),
        home_starter_id=pl.col("h_starting_pitcher_id"),
        home_starter_name=pl.col("h_starting_pitcher_name"),
        stats=pl.struct([_count(name).alias(name) for name in TEAM_STAT_FIELDS]).struct.json_encode(),
        file_sha256=pl.lit(raw.sha256),
        file_row=pl.col("row_number"),
        completion_date=pl.col("_completion_date"),
        completion_park_id=pl.col("completion")
        .str.split(",")
        .list.get(1, null_on_oob=True)
        .replace("", None),
        away_manager_id=pl.col("v_manager_id"),
        home_manager_id=pl.col("h_manager_id"),
        # 2020's relocated games and make-ups: the park's team is home but batted first.
        # An unstaffed umpire position is written "(none)".
        **{
            name: pl.when(pl.col(name) != "(none)").then(pl.col(name))
            for pos in UMPIRE_POSITIONS
            for name in (f"ump_{pos}_id", f"ump_{pos}_name")
        },
        htbf=pl.col("additional_info").str.contains(r"\bHTBF\b").fill_null(False),
    )
    return games.sort("row_number").select(pl.col(name).cast(dtype) for name, dtype in GAME_SCHEMA.items())


def _lineups(valid: pl.DataFrame) -> pl.DataFrame:
    """The 18 lineup slots of every valid game, one row per slot with a player id."""
    if valid.is_empty():
        return pl.DataFrame(schema=LINEUP_SCHEMA)
    slots = [
        valid.select(
            date=pl.col("_date"),
            home_team_id=pl.col("home_team_id"),
            game_num=pl.col("_game_num"),
            side=pl.lit("away" if side == "v" else "home"),
            batting_order=pl.lit(n),
            team_id=pl.col("away_team_id" if side == "v" else "home_team_id"),
            player_id=pl.col(f"{side}_bat{n}_id"),
            player_name=pl.col(f"{side}_bat{n}_name"),
            position=_count(f"{side}_bat{n}_pos"),
        )
        for side, n in LINEUP_SLOTS
    ]
    lineups = pl.concat(slots).filter(pl.col("player_id").is_not_null())
    return lineups.select(pl.col(name).cast(dtype) for name, dtype in LINEUP_SCHEMA.items()).sort(
        "date", "home_team_id", "game_num", "side", "batting_order"
    )
