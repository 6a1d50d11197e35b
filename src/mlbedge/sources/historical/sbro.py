"""SBRO season files (``mlb_odds_sbr_YYYY.csv``, or the ``.xlsx`` workbook) into ``staging.sbro_games``.

A season workbook (as the archive publishes it, or as ``mlbedge data download`` fetches it) is
read cell by cell into the same text rows the CSV path reads, its bytes being what ``raw.files``
keeps; the rest of the load does not know which it was given.

An SBRO file has two rows per game, the visitor's then the home team's, each with that team's
pitcher, line score, final and prices. Loading goes in three steps, all vectorised:

1. **Validate every row on its own.** The VH marker, the team code (``teams.codes("sbro")``),
   the date, the rotation number, ``Final`` (an integer or ``NL``), every price and line, and the
   field count. A row that fails is quarantined with a reason naming the field and the value.
2. **Pair the rows that passed.** A home row pairs with the visitor row just before it (or the
   one before that, when that one has the matching rotation number and a stray row sits between),
   so one garbage row never shifts the pairing of the rest of the file. Rows left alone are
   quarantined ("unpaired visitor row"). Rows of one game may carry adjacent dates (2010 CIN@CUB
   630/701): the game gets the date on which neither team has another game, flagged
   ``date_mismatch``.
3. **Normalise and flag the games.** ``NL`` is null, ``8½`` is 8.5, half-cent prices are rounded
   away from zero. Prices that cannot be trusted are kept as given and named in ``flags``;
   downstream code treats a flagged market as missing.

Conventions of the format (see ``shared/data/mlb/SOURCES.md`` §1): ``Date`` is MMDD without a
year (the ``season`` column, or the year in the file name, gives it); the visitor's rotation
number is odd and the home team's is one more; ``VH`` is ``N`` on both rows at a neutral site,
the first row being the listed away team; ``OpenOU_odds``/``CloseOU_odds`` are the OVER price on
the visitor row and the UNDER price on the home row; innings 1-9 only, extra innings are only in
``Final``.

**Postseason.** No list of dates is kept: the regular season ends on the last date on which at
least :data:`REGULAR_SEASON_MIN_GAMES` games were played (every team plays on the final day, while
no postseason day has had more than 8 games, the 2020 wild-card round included). Every later
game is ``P``. Tiebreaker games (2013 TB@TEX, 2018 MIL@CHC and COL@LAD) and any make-up game
played after the final day therefore count as ``P``: they are not part of the 162-game schedule
and the market treats them like elimination games. A season still in progress (its last full day
before September, or no full day at all) has no ``P`` games.

Row numbers (``file_row`` and the quarantine's ``row_number``) are 1-based data rows: row 1 is
the line after the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import polars.selectors as cs
import psycopg
from rich.progress import Progress

from mlbedge.domain import teams
from mlbedge.domain.odds import american_to_implied_expr
from mlbedge.sources.historical.common import (
    DataFileError,
    LoadSummary,
    RawFile,
    decode_lines,
    load_each,
    season_in_name,
    store_raw_file,
    write_parsed,
)

SOURCE = "sbro"
TABLE = "staging.sbro_games"
KEY = ["season", "date", "away_team_id", "home_team_id", "dh_index"]

INNINGS = ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th")
PRICE_COLUMNS = ("Open", "Close", "RunLine_odds", "OpenOU_odds", "CloseOU_odds")
LINE_COLUMNS = ("RunLine", "OpenOU", "CloseOU")
REQUIRED_COLUMNS = (
    "Date",
    "Rot",
    "VH",
    "Team",
    "Pitcher",
    *INNINGS,
    "Final",
    "Open",
    "Close",
    "OpenOU",
    "OpenOU_odds",
    "CloseOU",
    "CloseOU_odds",
)
OPTIONAL_COLUMNS = ("season", "RunLine", "RunLine_odds")

# Every MLB regular season ends with a day on which all 30 teams play (14-17 games in 2010-2020),
# while the busiest postseason day had 8 games (2020-09-30, wild-card round). 10 sits between.
REGULAR_SEASON_MIN_GAMES = 10
# No regular season ends before September (2010-2020: Sep 27 - Oct 3), so a file whose last full
# day is earlier is a season in progress: its light last days are not a postseason.
EARLIEST_SEASON_END = (9, 1)

# A two-way market from one book has implied probabilities summing to a little over 1. In the
# real files 2010-2020 the sums run 1.010-1.071 for moneylines and totals and 1.019-1.075 for the
# run line; everything outside [0.995, 1.10] is a keying error: both sides favourites or both
# underdogs (2020-09-18: 0.70-1.33), or one side's price typed into the other (run lines 0.82,
# 0.90, 1.19, 1.21 in 2015-2017). The gap between 1.075 and 1.146 (the smallest bad sum) is wide.
OVERROUND_MIN = 0.995
OVERROUND_MAX = 1.10
# |odds| below 100 is not an American price at all. No genuine moneyline in the archive goes past
# -550; the one beyond 1000 (2019-05-04 SFO@CIN open +770/-1235, closed +114/-124) is a typo
# whose partner was derived from it, so a price beyond 1000 is suspect even when the pair agrees.
MIN_ABS_ODDS = 100
MAX_ABS_ODDS = 1000
# When a third or more of one day's games (and at least 3) have a bad pair in a market, the
# day's lines for that market were keyed wrongly as a block (2020-09-18: 12-14 of 18 games; no
# other day has more than one): every game of that day gets the market's flag.
DAY_SUSPECT_MIN_GAMES = 3
DAY_SUSPECT_MIN_SHARE = 1 / 3

# Pitcher names that mean "no starter listed".
NO_PITCHER = ("UNDECIDED", "TBA", "TBD")

# The staging.sbro_games columns in table order, with their Polars types.
GAME_SCHEMA: dict[str, pl.DataType] = {
    "season": pl.Int32(),
    "date": pl.Date(),
    "away_team_id": pl.Int32(),
    "home_team_id": pl.Int32(),
    "dh_index": pl.Int16(),
    "file_sha256": pl.String(),
    "file_row": pl.Int32(),
    "rot_away": pl.Int32(),
    "rot_home": pl.Int32(),
    "neutral_site": pl.Boolean(),
    "away_code": pl.String(),
    "home_code": pl.String(),
    "away_pitcher": pl.String(),
    "home_pitcher": pl.String(),
    "away_pitcher_hand": pl.String(),
    "home_pitcher_hand": pl.String(),
    "away_innings": pl.String(),
    "home_innings": pl.String(),
    "away_score": pl.Int32(),
    "home_score": pl.Int32(),
    "away_ml_open": pl.Int32(),
    "home_ml_open": pl.Int32(),
    "away_ml_close": pl.Int32(),
    "home_ml_close": pl.Int32(),
    "away_rl": pl.Float64(),
    "away_rl_odds": pl.Int32(),
    "home_rl": pl.Float64(),
    "home_rl_odds": pl.Int32(),
    "total_open": pl.Float64(),
    "over_odds_open": pl.Int32(),
    "under_odds_open": pl.Int32(),
    "total_close": pl.Float64(),
    "over_odds_close": pl.Int32(),
    "under_odds_close": pl.Int32(),
    "game_type": pl.String(),
    "flags": pl.String(),
}

# Every flag a game can carry, in the order they are written into ``flags``.
FLAGS = (
    "suspect_ml_open",  # opening moneyline pair not trusted: treat as missing
    "suspect_ml_close",
    "suspect_rl_odds",  # run-line prices not trusted (also when the handicaps do not mirror)
    "suspect_total_open_odds",  # opening over/under prices not trusted
    "suspect_total_close_odds",
    "total_mismatch",  # the two rows give different totals (the visitor row's is kept)
    "nonstandard_rl",  # run-line handicap other than ±1.5
    "half_cent_price",  # a price like -219.5, rounded away from zero
    "no_score",  # Final is NL
    "tied_score",  # equal finals: a suspended game or missing extra-inning runs
    "extra_innings",  # nine-inning sums tied, finals differ
    "line_score_mismatch",  # any other disagreement between innings 1-9 and Final
    "rot_mismatch",  # home rotation number is not the visitor's + 1
    "date_mismatch",  # the two rows carry adjacent dates
    "dh_order_unverified",  # doubleheader: dh_index is file order, wrong about half the time
)

_NUMBER = r"^-?\d+(\.\d+)?$"


@dataclass(frozen=True)
class _Parsed:
    games: pl.DataFrame
    quarantined: pl.DataFrame
    rows_read: int


def parse_sbro(raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse one SBRO file without touching a database.

    Returns ``(games, quarantined)``: ``games`` has exactly the ``staging.sbro_games`` columns
    (see :data:`GAME_SCHEMA`), ``quarantined`` has ``row_number``, ``reason``, ``raw_row`` for
    every data row that is not part of a game. Raises :class:`DataFileError` when the file is
    not an SBRO file at all (no header, missing columns, no season).
    """
    parsed = _parse(raw)
    return parsed.games, parsed.quarantined


def load_sbro_files(
    conn: psycopg.Connection,
    paths: Iterable[str | Path],
    *,
    progress: Progress | None = None,
) -> list[LoadSummary]:
    """Load SBRO season files into ``staging.sbro_games``; one :class:`LoadSummary` per file.

    Each file's bytes go into ``raw.files`` before it is parsed; bad rows go to
    ``staging.quarantine``. Idempotent: loading the same files again writes nothing. Each file
    loads in its own transaction (a savepoint when the caller has one open); a file that cannot
    be loaded is reported in its summary's ``error`` while the others load.
    """
    return load_each(paths, "SBRO", lambda path: _load_file(conn, path), progress, conn=conn, source=SOURCE)


def _load_file(conn: psycopg.Connection, path: Path) -> LoadSummary:
    raw = RawFile.read(path)
    store_raw_file(conn, SOURCE, raw)
    parsed = _parse(raw)
    return write_parsed(
        conn, SOURCE, raw, table=TABLE, frame=parsed.games, key=KEY,
        quarantined=parsed.quarantined, rows_read=parsed.rows_read, flag_order=FLAGS,
    )  # fmt: skip


# --- reading --------------------------------------------------------------------------------


def _is_workbook(raw: RawFile) -> bool:
    # An .xlsx file is a zip archive (PK header); a CSV never starts with those bytes.
    return raw.content[:4] == b"PK\x03\x04"


# The published workbooks write "Run Line", "Open OU", "Close OU" and leave the header of the
# price column after each of them blank; the CSV names are these.
_WORKBOOK_NAMES = {"RUNLINE": "RunLine", "OPENOU": "OpenOU", "CLOSEOU": "CloseOU"}


def _workbook_text(raw: RawFile) -> str:
    """The first sheet of a workbook as the text of the equivalent CSV: every cell as the sheet
    shows it (whole numbers without a decimal point), blank cells empty, trailing blank rows
    dropped, the header named as in the CSV files."""
    import fastexcel

    try:
        sheet = fastexcel.read_excel(raw.content).load_sheet(0, header_row=None, dtypes="string")
    except Exception as exc:  # fastexcel raises its own error types for every kind of bad file
        raise DataFileError(raw.path, f"not a readable .xlsx workbook: {exc}") from exc
    cells = pl.from_arrow(sheet.to_arrow())
    assert isinstance(cells, pl.DataFrame)
    if cells.is_empty():
        raise DataFileError(raw.path, "empty workbook: expected an SBRO header row", row=0)
    header: list[str] = []
    for value in cells.row(0):
        name = (value or "").strip()
        canonical = _WORKBOOK_NAMES.get(name.replace(" ", "").upper(), name)
        if not canonical and header and header[-1] in LINE_COLUMNS:
            canonical = f"{header[-1]}_odds"
        header.append(canonical)
    lines = cells.slice(1).select(
        pl.concat_str([pl.col(c).fill_null("") for c in cells.columns], separator=",").alias("line"),
        pl.any_horizontal(pl.col(c).is_not_null() for c in cells.columns).alias("filled"),
    )
    last = lines.with_row_index().filter(pl.col("filled"))["index"].max()
    body = lines["line"].head(0 if last is None else int(last) + 1).to_list()  # type: ignore[arg-type]
    return "\n".join([",".join(header), *body])


def _season_from_name(raw: RawFile) -> int:
    season = season_in_name(raw.name)
    if season is None:
        raise DataFileError(raw.path, "no season column and no year in the file name")
    return season


def _read_rows(raw: RawFile) -> tuple[list[str], pl.DataFrame]:
    """The header's column names and one row per data line: row_number, raw_row, n_fields, fields."""
    # Each line is decoded on its own: spreadsheet exports write ½ as the single byte 0xBD of
    # Windows-1252, and such a line must not turn the UTF-8 lines around it into mojibake.
    content = _workbook_text(raw).encode() if _is_workbook(raw) else raw.content
    lines = decode_lines(content, fallback="cp1252")
    filled = lines.filter(pl.col("raw_row").str.strip_chars(" \t") != "")["line_number"].max()
    lines = lines.filter(pl.col("line_number") <= (filled or 0))  # trailing blank lines are no rows
    if lines.is_empty() or not lines["raw_row"][0].strip():
        raise DataFileError(raw.path, "empty file: expected an SBRO header row", row=0)
    if lines["line_reason"][0] is not None:
        raise DataFileError(raw.path, f"unreadable header: {lines['line_reason'][0]}", row=0)
    header = [name.strip().strip('"').strip() for name in lines["raw_row"][0].split(",")]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DataFileError(raw.path, f"not an SBRO file: header lacks {', '.join(missing)}", row=0)
    body = lines.slice(1).select((pl.col("line_number") - 1).alias("row_number"), "raw_row", "line_reason")
    # SBRO cells never hold commas or quotes, so a plain split is the whole CSV grammar needed;
    # a row with a different field count is quarantined rather than guessed at.
    wanted = [name for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in header]
    cells = []
    for name in wanted:
        cell = pl.col(f"field_{header.index(name)}").str.strip_chars(' "\t')
        cells.append(pl.when(cell.str.len_chars() > 0).then(cell).alias(name))
    rows = (
        body.with_columns(
            n_fields=pl.col("raw_row").str.count_matches(",", literal=True) + 1,
            fields=pl.col("raw_row").str.split_exact(",", len(header) - 1),
        )
        .unnest("fields")
        .select(pl.col("row_number").cast(pl.Int32), "raw_row", "line_reason", "n_fields", *cells)
    )
    for name in OPTIONAL_COLUMNS:
        if name not in header:
            fill = str(_season_from_name(raw)) if name == "season" else None
            rows = rows.with_columns(pl.lit(fill, pl.String).alias(name))
    # A season column naming another year than the file's (a flipped byte: 2819) is no game of
    # this file.
    season = season_in_name(raw.name)
    if season is not None:
        wrong = pl.col("season").str.contains(r"^\d{4}$").fill_null(False) & (pl.col("season") != str(season))
        rows = rows.with_columns(
            line_reason=pl.coalesce(
                "line_reason",
                pl.when(wrong).then(pl.format(f"season '{{}}' is not the file's season {season}", "season")),
            )
        )
    return header, rows


# --- step 1: each row on its own ------------------------------------------------------------


def _numeric_text(name: str) -> pl.Expr:
    """The cell as a plain number string: ``8½`` -> ``8.5``, ``+130`` -> ``130``, ``NL`` -> null."""
    text = (
        pl.col(name)
        .str.replace_all("½", ".5", literal=True)
        .str.replace(r"^\+", "")
        .str.replace(r"^(-?)\.", "${1}0.")
    )
    return pl.when(text.str.to_uppercase() == "NL").then(None).otherwise(text)


def _bad(name: str, condition: pl.Expr, what: str) -> pl.Expr:
    """``"<name> '<value>' <what>"`` (or ``"<name> is blank"``) where ``condition`` holds, else null."""
    message = (
        pl.when(pl.col(name).is_null())
        .then(pl.lit(f"{name} is blank"))
        .otherwise(pl.format(f"{name} '{{}}' {what}", pl.col(name)))
    )
    return pl.when(condition.fill_null(True)).then(message)


def _typed_rows(rows: pl.DataFrame, n_header: int) -> pl.DataFrame:
    """Every row typed, with ``reason`` saying why it is unusable (null when it is fine)."""
    codes = teams.codes(SOURCE)
    numeric = {name: _numeric_text(name) for name in (*PRICE_COLUMNS, *LINE_COLUMNS, "Final")}
    rows = rows.with_columns(
        **{f"_{name}": expr for name, expr in numeric.items()},
        _team=pl.col("Team").str.to_uppercase(),
        _vh=pl.col("VH").str.to_uppercase(),
    ).with_columns(
        season_i=pl.col("season").str.to_integer(strict=False).cast(pl.Int32),
        date=pl.concat_str(pl.col("season"), pl.col("Date").str.zfill(4)).str.to_date("%Y%m%d", strict=False),
        rot=pl.col("Rot").str.to_integer(strict=False).cast(pl.Int32),
        team_id=pl.col("_team").replace_strict(codes, default=None, return_dtype=pl.Int32),
    )
    # Identity fields and Final are required; a blank price or line is a missing one (pre-2014
    # files have no run line), NL is "no line".
    checks = [
        _bad("season", ~pl.col("season").str.contains(r"^\d{4}$"), "is not a year"),
        _bad(
            "Date",
            # An invalid season already explains a missing date.
            ~pl.col("Date").str.contains(r"^\d{3,4}$")
            | (pl.col("season").str.contains(r"^\d{4}$") & pl.col("date").is_null()),
            "is not a MMDD date",
        ),
        _bad("Rot", ~pl.col("Rot").str.contains(r"^\d+$"), "is not a number"),
        _bad("VH", ~pl.col("_vh").is_in(["V", "H", "N"]), "is not V, H or N"),
        pl.when(pl.col("Team").is_null())
        .then(pl.lit("Team is blank"))
        .when(pl.col("team_id").is_null())
        .then(pl.format("unknown sbro team code '{}'", pl.col("Team"))),
        _bad("Final", ~pl.col("Final").str.contains(r"^(\d+|[Nn][Ll])$"), "is not a number"),
        *(
            _bad(
                name,
                pl.col(name).is_not_null() & ~pl.col(f"_{name}").fill_null("0").str.contains(_NUMBER),
                kind,
            )
            for names, kind in ((PRICE_COLUMNS, "is not a price"), (LINE_COLUMNS, "is not a number"))
            for name in names
        ),
    ]
    field_reasons = pl.concat_str(checks, separator="; ", ignore_nulls=True)
    reason = (
        pl.when(pl.col("line_reason").is_not_null())
        .then(pl.col("line_reason"))
        .when(pl.col("raw_row").str.strip_chars().str.replace_all(",", "") == "")
        .then(pl.lit("blank line"))
        .when(pl.col("n_fields") != n_header)
        .then(pl.format("row has {} fields, expected {}", pl.col("n_fields"), pl.lit(n_header)))
        .otherwise(pl.when(field_reasons != "").then(field_reasons))
    )
    pitcher = pl.col("Pitcher").str.to_uppercase()
    pitcher = pl.when(pitcher.is_in(NO_PITCHER)).then(None).otherwise(pitcher)
    hand = pitcher.str.extract(r"-([LR])$", 1)
    innings_given = pl.any_horizontal(pl.col(name).is_not_null() for name in INNINGS)
    return rows.with_columns(
        reason=reason,
        pitcher=pl.when(hand.is_not_null())
        .then(pitcher.str.slice(0, pitcher.str.len_chars() - 2))
        .otherwise(pitcher),
        hand=hand,
        innings=pl.when(innings_given).then(
            pl.concat_str([pl.col(name).fill_null("") for name in INNINGS], separator=",")
        ),
        # x (did not bat) and - (a 7-inning 2020 doubleheader game) count as no runs.
        inning_runs=pl.sum_horizontal(
            pl.col(name).str.to_integer(strict=False).fill_null(0) for name in INNINGS
        ).cast(pl.Int32),
        final=pl.col("_Final").str.to_integer(strict=False).cast(pl.Int32),
        **{f"p_{name}": pl.col(f"_{name}").cast(pl.Float64, strict=False) for name in PRICE_COLUMNS},
        **{f"l_{name}": pl.col(f"_{name}").cast(pl.Float64, strict=False) for name in LINE_COLUMNS},
    )


# --- step 2: pairing ------------------------------------------------------------------------


def _pair(ok: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Visitor/home row pairs of valid rows (``v_*``/``h_*`` columns) and the rows left unpaired."""
    ok = ok.sort("row_number").with_columns(
        visitor=(pl.col("_vh") == "V") | ((pl.col("_vh") == "N") & (pl.col("rot") % 2 == 1)),
    )
    candidates = []
    for step in (1, 2):
        prev = {name: pl.col(name).shift(step) for name in ("visitor", "_vh", "date", "team_id", "rot")}
        valid = (
            prev["visitor"]
            & ~pl.col("visitor")
            & ((prev["_vh"] == "N") == (pl.col("_vh") == "N"))
            & ((pl.col("date") - prev["date"]).dt.total_days().abs() <= 1)
            & (prev["team_id"] != pl.col("team_id"))
        ).fill_null(False)
        exact = valid & ((pl.col("rot") == prev["rot"] + 1) & (prev["rot"] % 2 == 1)).fill_null(False)
        candidates.append((pl.col("row_number").shift(step), valid, exact))
    (row1, valid1, exact1), (row2, _, exact2) = candidates
    # Prefer the row whose rotation number fits, so a stray visitor row between a game's two rows
    # is skipped; otherwise take the row right before (2018 CUB@CIN: Rot 907 on both rows).
    partner = pl.when(exact1).then(row1).when(exact2).then(row2).when(valid1).then(row1)
    homes = (
        ok.with_columns(partner=partner.cast(pl.Int32))
        .filter(pl.col("partner").is_not_null())
        .filter(pl.col("partner").is_first_distinct())
    )
    visitors = ok.filter(pl.col("row_number").is_in(homes["partner"].implode()))
    row_columns = [
        "row_number",
        "season_i",
        "date",
        "rot",
        "_vh",
        "_team",
        "team_id",
        "pitcher",
        "hand",
        "innings",
        "inning_runs",
        "final",
        *(f"p_{name}" for name in PRICE_COLUMNS),
        *(f"l_{name}" for name in LINE_COLUMNS),
    ]
    pairs = visitors.select(pl.col(row_columns).name.prefix("v_")).join(
        homes.select(pl.col(row_columns).name.prefix("h_"), "partner"),
        left_on="v_row_number",
        right_on="partner",
        how="inner",
    )
    used = pl.concat([pairs["v_row_number"], pairs["h_row_number"]])
    unpaired = ok.filter(~pl.col("row_number").is_in(used.implode())).select(
        "row_number",
        pl.when(pl.col("visitor"))
        .then(pl.lit("unpaired visitor row"))
        .otherwise(pl.lit("unpaired home row"))
        .alias("reason"),
        "raw_row",
    )
    return pairs, unpaired


# --- step 3: games --------------------------------------------------------------------------


def _price(column: str) -> pl.Expr:
    """A price rounded half away from zero to whole cents."""
    value = pl.col(column)
    return (value.sign() * (value.abs() + 0.5).floor()).cast(pl.Int32)


def _suspect_pair(a: str, b: str) -> pl.Expr:
    """True when the two sides of one market cannot both be right (see the thresholds above)."""
    out_of_range = pl.lit(False)
    for name in (a, b):
        size = pl.col(name).abs()
        out_of_range = out_of_range | ((size < MIN_ABS_ODDS) | (size > MAX_ABS_ODDS)).fill_null(False)
    overround = american_to_implied_expr(pl.col(a)) + american_to_implied_expr(pl.col(b))
    return out_of_range | (~overround.is_between(OVERROUND_MIN, OVERROUND_MAX)).fill_null(False)


def _resolve_dates(games: pl.DataFrame) -> pl.DataFrame:
    """Give each game one date: for rows with adjacent dates, the day neither team played otherwise."""
    games = games.with_columns(date_mismatch=pl.col("v_date") != pl.col("h_date"))
    if not games["date_mismatch"].any():
        return games.with_columns(date=pl.col("v_date"))
    busy = (
        games.filter(~pl.col("date_mismatch"))
        .select(
            pl.concat_list("v_date", "v_date").alias("d"),
            pl.concat_list("v_team_id", "h_team_id").alias("team"),
        )
        .explode("d", "team")
        .group_by("d", "team")
        .len("games")
    )

    def others(date: str, team: str) -> pl.DataFrame:
        return busy.rename({"d": date, "team": team, "games": f"n_{date}_{team}"})

    resolved = games
    for date in ("v_date", "h_date"):
        for team in ("v_team_id", "h_team_id"):
            resolved = resolved.join(others(date, team), on=[date, team], how="left")
    first = pl.col("n_v_date_v_team_id").fill_null(0) + pl.col("n_v_date_h_team_id").fill_null(0)
    second = pl.col("n_h_date_v_team_id").fill_null(0) + pl.col("n_h_date_h_team_id").fill_null(0)
    return resolved.with_columns(
        date=pl.when(pl.col("date_mismatch") & (second < first))
        .then(pl.col("h_date"))
        .otherwise(pl.col("v_date"))
    ).drop(cs.starts_with("n_v_date", "n_h_date"))


def _games(pairs: pl.DataFrame, raw: RawFile) -> pl.DataFrame:
    """One typed row per game with ``flags``, ``dh_index`` and ``game_type``."""
    if pairs.is_empty():
        return pl.DataFrame(schema=GAME_SCHEMA)
    games = _resolve_dates(pairs).sort("v_row_number")
    games = games.with_columns(
        season=pl.col("v_season_i"),
        away_team_id=pl.col("v_team_id"),
        home_team_id=pl.col("h_team_id"),
        file_sha256=pl.lit(raw.sha256),
        file_row=pl.col("v_row_number"),
        rot_away=pl.col("v_rot"),
        rot_home=pl.col("h_rot"),
        neutral_site=pl.col("v__vh") == "N",
        away_code=pl.col("v__team"),
        home_code=pl.col("h__team"),
        away_pitcher=pl.col("v_pitcher"),
        home_pitcher=pl.col("h_pitcher"),
        away_pitcher_hand=pl.col("v_hand"),
        home_pitcher_hand=pl.col("h_hand"),
        away_innings=pl.col("v_innings"),
        home_innings=pl.col("h_innings"),
        away_score=pl.col("v_final"),
        home_score=pl.col("h_final"),
        away_ml_open=_price("v_p_Open"),
        home_ml_open=_price("h_p_Open"),
        away_ml_close=_price("v_p_Close"),
        home_ml_close=_price("h_p_Close"),
        away_rl=pl.col("v_l_RunLine"),
        away_rl_odds=_price("v_p_RunLine_odds"),
        home_rl=pl.col("h_l_RunLine"),
        home_rl_odds=_price("h_p_RunLine_odds"),
        total_open=pl.coalesce("v_l_OpenOU", "h_l_OpenOU"),
        over_odds_open=_price("v_p_OpenOU_odds"),
        under_odds_open=_price("h_p_OpenOU_odds"),
        total_close=pl.coalesce("v_l_CloseOU", "h_l_CloseOU"),
        over_odds_close=_price("v_p_CloseOU_odds"),
        under_odds_close=_price("h_p_CloseOU_odds"),
    )
    day = ["season", "date"]
    matchup = ["season", "date", "away_team_id", "home_team_id"]
    games = (
        games.with_columns(
            n_matchup=pl.len().over(matchup),
            nth_matchup=pl.int_range(1, pl.len() + 1).over(matchup),
            n_day=pl.len().over(day),
        )
        .with_columns(
            dh_index=pl.when(pl.col("n_matchup") > 1).then(pl.col("nth_matchup")).otherwise(0).cast(pl.Int16),
            last_full_day=pl.col("date")
            .filter(pl.col("n_day") >= REGULAR_SEASON_MIN_GAMES)
            .max()
            .over("season"),
        )
        .with_columns(
            game_type=pl.when(
                (pl.col("date") > pl.col("last_full_day"))
                & (pl.col("last_full_day") >= pl.date(pl.col("season"), *EARLIEST_SEASON_END))
            )
            .then(pl.lit("P"))
            .otherwise(pl.lit("R")),
        )
    )

    prices = [f"{side}_p_{name}" for side in ("v", "h") for name in PRICE_COLUMNS]
    scored = pl.col("away_score").is_not_null() & pl.col("home_score").is_not_null()
    sums_tied = pl.col("v_inning_runs") == pl.col("h_inning_runs")
    finals_cover_sums = (pl.col("away_score") >= pl.col("v_inning_runs")) & (
        pl.col("home_score") >= pl.col("h_inning_runs")
    )
    extra = scored & sums_tied & (pl.col("away_score") != pl.col("home_score")) & finals_cover_sums
    sums_differ = (pl.col("v_inning_runs") != pl.col("away_score")) | (
        pl.col("h_inning_runs") != pl.col("home_score")
    )
    market = {
        "suspect_ml_open": _suspect_pair("away_ml_open", "home_ml_open"),
        "suspect_ml_close": _suspect_pair("away_ml_close", "home_ml_close"),
        "suspect_rl_odds": _suspect_pair("away_rl_odds", "home_rl_odds")
        | (pl.col("away_rl") != -pl.col("home_rl")).fill_null(False),
        "suspect_total_open_odds": _suspect_pair("over_odds_open", "under_odds_open"),
        "suspect_total_close_odds": _suspect_pair("over_odds_close", "under_odds_close"),
    }
    games = games.with_columns(**{name: expr for name, expr in market.items()}).with_columns(
        **{
            name: pl.col(name)
            | (
                (pl.col(name).sum().over(day) >= DAY_SUSPECT_MIN_GAMES)
                & (pl.col(name).mean().over(day) >= DAY_SUSPECT_MIN_SHARE)
            )
            for name in market
        },
        total_mismatch=(
            (pl.col("v_l_OpenOU") != pl.col("h_l_OpenOU")) | (pl.col("v_l_CloseOU") != pl.col("h_l_CloseOU"))
        ).fill_null(False),
        nonstandard_rl=(pl.col("away_rl").abs() != 1.5).fill_null(False),
        half_cent_price=pl.any_horizontal(
            (pl.col(name) != pl.col(name).round(0)).fill_null(False) for name in prices
        ),
        no_score=~scored,
        tied_score=scored & (pl.col("away_score") == pl.col("home_score")),
        extra_innings=extra,
        line_score_mismatch=scored & ~extra & sums_differ,
        rot_mismatch=~((pl.col("rot_home") == pl.col("rot_away") + 1) & (pl.col("rot_away") % 2 == 1)),
        dh_order_unverified=pl.col("dh_index") > 0,
    )
    games = games.with_columns(
        flags=pl.concat_str(
            [pl.when(pl.col(name)).then(pl.lit(name)) for name in FLAGS], separator=",", ignore_nulls=True
        )
    )
    return games.select(pl.col(name).cast(dtype) for name, dtype in GAME_SCHEMA.items())


def _parse(raw: RawFile) -> _Parsed:
    header, rows = _read_rows(raw)
    typed = _typed_rows(rows, len(header))
    invalid = typed.filter(pl.col("reason").is_not_null()).select("row_number", "reason", "raw_row")
    pairs, unpaired = _pair(typed.filter(pl.col("reason").is_null()))
    quarantined = pl.concat([invalid, unpaired]).sort("row_number")
    return _Parsed(games=_games(pairs, raw), quarantined=quarantined, rows_read=rows.height)
