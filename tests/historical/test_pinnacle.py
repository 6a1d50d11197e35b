"""Pinnacle 2016 loader on the real files: games, 241k line snapshots, flags, idempotency, garbage."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest
from rich.progress import Progress

from mlbedge.domain.teams import TEAMS
from mlbedge.sources.historical.common import DataFileError, RawFile
from mlbedge.sources.historical.pinnacle import (
    GAME_SCHEMA,
    LINE_SCHEMA,
    load_pinnacle,
    parse_pinnacle_games,
    parse_pinnacle_lines,
)
from mlbedge.storage.database import fetch_frame

GAMES_FILE = "pinnacle_mlb2016_games.csv"
LINES_FILE = "pinnacle_mlb2016_lines.csv.gz"
N_GAMES = 2462
N_LINES = 241_099
# Snapshots with a market the loader calls absurd: 14 with broken totals (one side 726-1309,
# the other up to -105114) and 3 with broken moneylines (-1940/1357 twice, 880/-1113).
N_ABSURD = 17
PRICE_COLUMNS = ["SpreadUS1", "SpreadUS2", "MoneyUS1", "MoneyUS2", "TotalUSOver", "TotalUSUnder"]


@pytest.fixture(scope="module")
def pin_dir(data_dir: Path) -> Path:
    return data_dir / "pinnacle_2016"


@pytest.fixture(scope="module")
def parsed(pin_dir: Path) -> dict[str, pl.DataFrame]:
    """Both real files parsed once, without a database."""
    games, games_bad = parse_pinnacle_games(RawFile.read(pin_dir / GAMES_FILE))
    lines, lines_bad = parse_pinnacle_lines(RawFile.read(pin_dir / LINES_FILE), games, games_bad)
    return {"games": games, "games_bad": games_bad, "lines": lines, "lines_bad": lines_bad}


@pytest.fixture(scope="module")
def raw_games(pin_dir: Path) -> pl.DataFrame:
    """The games file as plain text columns, read independently of the loader."""
    return pl.read_csv(pin_dir / GAMES_FILE, infer_schema=False)


@pytest.fixture(scope="module")
def raw_lines(pin_dir: Path) -> pl.DataFrame:
    """The lines file as read by Polars' own CSV reader (prices as floats)."""
    return pl.read_csv(
        pin_dir / LINES_FILE,
        schema_overrides={"pin_game_no": pl.Int32, "EnteredDateTimeUTC": pl.String},
        infer_schema_length=None,
    ).with_columns(pl.col(c).cast(pl.Float64) for c in PRICE_COLUMNS)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def has_flag(flag: str) -> pl.Expr:
    return pl.col("flags").str.split(",").list.contains(flag)


def table_digest(conn: psycopg.Connection, table: str, order: str) -> tuple:
    """Row count and a hash of every row in a fixed order: equal digests, equal tables."""
    row = conn.execute(
        f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY {order})) FROM {table} t"
    ).fetchone()
    assert row is not None
    return tuple(row)


# --- games ----------------------------------------------------------------------------------


def test_every_game_parses_and_the_all_star_game_keeps_null_teams(parsed: dict[str, pl.DataFrame]) -> None:
    games = parsed["games"]
    assert games.height == N_GAMES
    assert parsed["games_bad"].is_empty()
    assert dict(games.schema) == GAME_SCHEMA
    assert games["pin_game_no"].to_list() == list(range(1, N_GAMES + 1))

    all_star = games.filter(pl.col("is_all_star"))
    assert all_star.height == 1
    star = all_star.row(0, named=True)
    assert star["pin_game_no"] == 1332
    assert star["game_date_et"] == date(2016, 7, 12)
    assert star["away_team_id"] is None and star["home_team_id"] is None
    assert (star["away_score"], star["home_score"]) == (4, 2)

    regular = games.filter(~pl.col("is_all_star"))
    assert regular["away_team_id"].null_count() == 0 and regular["home_team_id"].null_count() == 0
    assert set(regular["away_team_id"]) | set(regular["home_team_id"]) == {t.mlb_id for t in TEAMS}
    # 2016: 2,428 regular-season games + 35 postseason games = 2,461 with a franchise on each side.
    assert regular.filter(has_flag("postseason")).height == 35
    assert regular.filter(has_flag("postseason"))["game_date_et"].min() == date(2016, 10, 4)
    assert games.filter(pl.col("doubleheader_game") > 0)["doubleheader_game"].value_counts().sort(
        "doubleheader_game"
    ).rows() == [(1, 14), (2, 14)]


def test_start_times_are_the_corrected_ones(parsed: dict[str, pl.DataFrame]) -> None:
    games = parsed["games"]
    opening = games.filter(pl.col("pin_game_no") == 1).row(0, named=True)
    # Opening day STL@PIT started 13:05 ET; upstream stored 20:05Z, three hours late.
    assert (opening["away_team_id"], opening["home_team_id"]) == (138, 134)
    assert opening["start_time_utc"] == utc("2016-04-03T17:05:00Z")
    assert opening["start_time_raw_utc"] == utc("2016-04-03T20:05:00Z")
    assert opening["game_date_et"] == date(2016, 4, 3)
    assert (opening["away_pitcher"], opening["home_pitcher"]) == ("A WAINWRIGHT", "F LIRIANO")
    assert (opening["away_score"], opening["home_score"]) == (1, 4)
    shift = games.select((pl.col("start_time_raw_utc") - pl.col("start_time_utc")).unique())
    assert shift.to_series().to_list() == [timedelta(hours=3)]
    assert games.filter(has_flag("date_mismatch") | has_flag("unexpected_shift")).is_empty()


def test_a_file_without_the_game_columns_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "not_games.csv"
    bad.write_text("pin_game_no,away_team\n1,St. Louis Cardinals\n")
    with pytest.raises(DataFileError, match=r"not_games\.csv, row 0: .*start_time_utc"):
        parse_pinnacle_games(RawFile.read(bad))


# --- lines ----------------------------------------------------------------------------------


def test_every_snapshot_parses_with_millisecond_utc_times(
    parsed: dict[str, pl.DataFrame], raw_lines: pl.DataFrame
) -> None:
    lines = parsed["lines"]
    assert raw_lines.height == N_LINES
    assert lines.height == N_LINES
    assert parsed["lines_bad"].is_empty()
    assert dict(lines.schema) == LINE_SCHEMA
    assert lines.select(pl.struct("pin_game_no", "observed_at").is_unique().all()).item()
    first = lines.row(0, named=True)
    assert first["pin_game_no"] == 1
    assert first["observed_at"] == utc("2016-03-31T21:16:48.046Z")
    assert (first["away_ml"], first["home_ml"]) == (-110, 102)
    assert first["total"] is None and first["away_rl"] is None  # empty cells: market not offered


def test_a_plain_csv_lines_file_parses_like_the_gzip(pin_dir: Path, parsed: dict[str, pl.DataFrame]) -> None:
    plain = RawFile(path=Path("lines.csv"), content=gzip.decompress((pin_dir / LINES_FILE).read_bytes()))
    lines, bad = parse_pinnacle_lines(plain, parsed["games"])
    assert bad.is_empty()
    assert lines.equals(parsed["lines"])


def test_empty_cells_stay_null_and_only_absurd_markets_are_nulled(
    parsed: dict[str, pl.DataFrame], raw_lines: pl.DataFrame
) -> None:
    lines = parsed["lines"].sort("pin_game_no", "observed_at")
    raw = raw_lines.with_columns(
        observed_at=pl.col("EnteredDateTimeUTC").str.to_datetime(time_zone="UTC", time_unit="ms")
    ).sort("pin_game_no", "observed_at")
    absurd = lines.select(has_flag("absurd_price")).to_series()
    pairs = {
        "away_ml": "MoneyUS1",
        "home_ml": "MoneyUS2",
        "away_rl": "SpreadTeam1",
        "away_rl_odds": "SpreadUS1",
        "home_rl_odds": "SpreadUS2",
        "total": "TotalPoints",
        "over_odds": "TotalUSOver",
        "under_odds": "TotalUSUnder",
    }
    for column, source in pairs.items():
        ours = lines[column].cast(pl.Float64).filter(~absurd)
        theirs = raw[source].filter(~absurd)
        assert ours.equals(theirs, check_names=False), column
    assert raw["MoneyUS1"].null_count() == 635
    assert raw["SpreadTeam1"].null_count() == 12_685
    assert raw["TotalPoints"].null_count() == 4_163


def test_absurd_prices_are_nulled_and_flagged(
    parsed: dict[str, pl.DataFrame], raw_lines: pl.DataFrame
) -> None:
    lines = parsed["lines"]
    flagged = lines.filter(has_flag("absurd_price"))
    assert flagged.height == N_ABSURD

    # Every price SOURCES.md calls absurd (|odds| > 1000, or < 100) sits in a flagged snapshot.
    size = pl.max_horizontal(pl.col(c).abs() for c in PRICE_COLUMNS)
    small = pl.min_horizontal(pl.col(c).abs() for c in PRICE_COLUMNS)
    beyond = raw_lines.filter((size > 1000) | (small < 100))
    assert beyond.height == 15
    flagged_keys = set(
        flagged.select("pin_game_no", pl.col("observed_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")).rows()
    )
    assert set(beyond.select("pin_game_no", "EnteredDateTimeUTC").rows()) <= flagged_keys
    # What is left after nulling looks like a real book: no price past 485.
    kept = lines.select(
        pl.max_horizontal(pl.col(c).abs().max() for c in LINE_SCHEMA if c.endswith(("_ml", "_odds")))
    )
    assert kept.item() <= 485

    # The -105114 snapshot: the total market is gone, the moneyline of the same snapshot stays.
    row = lines.filter(
        pl.col("pin_game_no") == 2221, pl.col("observed_at") == utc("2016-09-16T18:36:34.697Z")
    ).row(0, named=True)
    assert row["flags"] == "absurd_price"
    assert (row["total"], row["over_odds"], row["under_odds"]) == (None, None, None)
    assert (row["away_ml"], row["home_ml"]) == (-140, 129)
    # The -1940/+1357 moneyline: the moneyline goes, the run line and total stay.
    row = lines.filter(
        pl.col("pin_game_no") == 221, pl.col("observed_at") == utc("2016-04-21T16:34:07.509Z")
    ).row(0, named=True)
    assert (row["away_ml"], row["home_ml"]) == (None, None)
    assert (row["away_rl"], row["away_rl_odds"], row["total"], row["over_odds"]) == (-1.5, -110, 7.0, -118)


def test_after_start_matches_a_recomputation_from_the_raw_files(
    parsed: dict[str, pl.DataFrame], raw_games: pl.DataFrame, raw_lines: pl.DataFrame
) -> None:
    starts = raw_games.select(
        pl.col("pin_game_no").cast(pl.Int32),
        pl.col("start_time_utc").str.to_datetime(time_zone="UTC", time_unit="ms").alias("start"),
    )
    late = (
        raw_lines.join(starts, on="pin_game_no")
        .with_columns(t=pl.col("EnteredDateTimeUTC").str.to_datetime(time_zone="UTC", time_unit="ms"))
        .filter(pl.col("t") > pl.col("start"))
        .select("pin_game_no", "t")
    )
    assert late.height == 1068  # SOURCES.md §2
    flagged = parsed["lines"].filter(has_flag("after_start")).select("pin_game_no", "observed_at")
    assert set(flagged.rows()) == set(late.rows())


# --- loading into PostgreSQL ----------------------------------------------------------------


def test_load_stores_games_and_lines_and_a_second_load_changes_nothing(
    conn: psycopg.Connection, pin_dir: Path, raw_games: pl.DataFrame
) -> None:
    with Progress(transient=True, disable=True) as progress:
        games, lines = load_pinnacle(conn, pin_dir / GAMES_FILE, pin_dir / LINES_FILE, progress=progress)
    assert (games.rows_read, games.records, games.written, games.quarantined) == (
        N_GAMES,
        N_GAMES,
        N_GAMES,
        0,
    )
    assert (lines.rows_read, lines.records, lines.written, lines.quarantined) == (
        N_LINES,
        N_LINES,
        N_LINES,
        0,
    )
    assert lines.flags == {"absurd_price": N_ABSURD, "after_start": 1068}
    assert games.flags == {"postseason": 35}
    stored = conn.execute("SELECT source, file_name FROM raw.files ORDER BY file_name").fetchall()
    assert stored == [("pinnacle", GAMES_FILE), ("pinnacle", LINES_FILE)]

    opening = conn.execute(
        "SELECT start_time_utc, start_time_raw_utc, away_team_id, home_team_id FROM staging.pinnacle_games "
        "WHERE pin_game_no = 1"
    ).fetchone()
    assert opening == (utc("2016-04-03T17:05:00Z"), utc("2016-04-03T20:05:00Z"), 138, 134)
    assert conn.execute(
        "SELECT away_team_id, home_team_id, is_all_star FROM staging.pinnacle_games WHERE is_all_star"
    ).fetchall() == [(None, None, True)]

    # Derived check: the file's open/close columns are the first snapshot and the last one at or
    # before the corrected start with a price. The stored snapshots give the same, for every game.
    derived = fetch_frame(
        conn,
        """
        WITH pre AS (
            SELECT l.* FROM staging.pinnacle_lines l JOIN staging.pinnacle_games g USING (pin_game_no)
            WHERE l.observed_at <= g.start_time_utc
        )
        SELECT c.pin_game_no, c.away_ml AS ml_away_close, c.home_ml AS ml_home_close,
               o.away_ml AS ml_away_open, o.home_ml AS ml_home_open,
               t.total::float8 AS total_close, t.over_odds AS total_over_odds_close
        FROM (SELECT DISTINCT ON (pin_game_no) pin_game_no, away_ml, home_ml FROM pre
              WHERE away_ml IS NOT NULL ORDER BY pin_game_no, observed_at DESC) c
        JOIN (SELECT DISTINCT ON (pin_game_no) pin_game_no, away_ml, home_ml FROM staging.pinnacle_lines
              WHERE away_ml IS NOT NULL ORDER BY pin_game_no, observed_at) o USING (pin_game_no)
        JOIN (SELECT DISTINCT ON (pin_game_no) pin_game_no, total, over_odds FROM pre
              WHERE total IS NOT NULL ORDER BY pin_game_no, observed_at DESC) t USING (pin_game_no)
        ORDER BY c.pin_game_no
        """,
    )
    expected = raw_games.select(
        pl.col("pin_game_no").cast(pl.Int64),
        *(
            pl.col(c).cast(pl.Int64)
            for c in ("ml_away_close", "ml_home_close", "ml_away_open", "ml_home_open")
        ),
        pl.col("total_close").cast(pl.Float64),
        pl.col("total_over_odds_close").cast(pl.Int64),
    )
    assert derived.height == N_GAMES
    assert derived.cast(expected.schema).equals(expected)
    opening_close = derived.filter(pl.col("pin_game_no") == 1).row(0, named=True)
    assert (opening_close["ml_away_close"], opening_close["ml_home_close"]) == (109, -118)

    before = (
        table_digest(conn, "staging.pinnacle_games", "pin_game_no"),
        table_digest(conn, "staging.pinnacle_lines", "pin_game_no, observed_at"),
    )
    again = load_pinnacle(conn, pin_dir / GAMES_FILE, pin_dir / LINES_FILE)
    assert [s.written for s in again] == [0, 0]
    assert [s.records for s in again] == [N_GAMES, N_LINES]
    after = (
        table_digest(conn, "staging.pinnacle_games", "pin_game_no"),
        table_digest(conn, "staging.pinnacle_lines", "pin_game_no, observed_at"),
    )
    assert after == before
    assert conn.execute("SELECT count(*) FROM raw.files").fetchone() == (2,)


def _replace(row: str, **fields: str) -> str:
    header = [
        "pin_game_no",
        "source_game_id",
        "start_time_raw_utc",
        "start_time_et",
        "start_time_utc",
        "game_date_et",
        "away_team",
        "home_team",
    ]
    cells = row.split(",")
    for name, value in fields.items():
        cells[header.index(name)] = value
    return ",".join(cells)


def test_garbage_rows_are_quarantined_and_good_rows_load(
    conn: psycopg.Connection, pin_dir: Path, tmp_path: Path
) -> None:
    games_lines = (pin_dir / GAMES_FILE).read_text().rstrip("\n").split("\n")
    game1, game2, game3, game4 = games_lines[1:5]
    bad_games = [
        _replace(game1, pin_game_no="9001", away_team="Springfield Isotopes"),  # row 2463
        _replace(game2, pin_game_no="9002", start_time_utc="2016-04-03 at noon"),  # row 2464
        ",".join(game3.split(",")[:6]).replace("3,", "9003,", 1),  # truncated, row 2465
        _replace(game4, pin_game_no="4", away_team="Toronto Blue Jays"),  # duplicate key, row 2466
    ]
    games_path = tmp_path / GAMES_FILE
    games_path.write_text("\n".join([*games_lines, *bad_games]) + "\n")

    lines_text = gzip.decompress((pin_dir / LINES_FILE).read_bytes()).decode().rstrip("\n").split("\n")
    bad_lines = [
        "5,2016-04-0X 12:00,,,,-110,100,,,",  # bad time, row 241100
        "99999,2016-04-05T12:00:00.000Z,,,,-110,100,,,",  # unknown game, row 241101
        "9001,2016-04-02T12:00:00.000Z,,,,-110,100,,,",  # its game was quarantined, row 241102
        "6,2016-04-04T",  # truncated, row 241103
        "7,2016-04-05T12:00:00.000Z,,,,abc,100,,,",  # price not a number, row 241104
        "1,2016-03-31T21:16:48.046Z,,,,-120,110,,,",  # same game and time as row 1: kept, row 241105
    ]
    lines_path = tmp_path / LINES_FILE
    lines_path.write_bytes(
        gzip.compress(("\n".join([*lines_text, *bad_lines]) + "\n").encode(), compresslevel=1)
    )

    games, lines = load_pinnacle(conn, games_path, lines_path)
    assert (games.rows_read, games.records, games.quarantined) == (N_GAMES + 4, N_GAMES, 4)
    assert (lines.rows_read, lines.records, lines.quarantined) == (N_LINES + 6, N_LINES, 6)
    assert lines.flags["duplicate"] == 1

    reasons = dict(
        conn.execute(
            "SELECT file_name || ':' || row_number, reason FROM staging.quarantine ORDER BY file_name, row_number"
        ).fetchall()
    )
    g, ln = GAMES_FILE, LINES_FILE
    assert reasons[f"{g}:2463"] == "unknown pinnacle team name 'Springfield Isotopes' (away_team)"
    assert reasons[f"{g}:2464"] == "start_time_utc '2016-04-03 at noon' is not an ISO UTC time"
    assert reasons[f"{g}:2465"].startswith("6 fields, the header has 34")
    assert reasons[f"{g}:2466"] == "duplicate pin_game_no: row 4 is kept"
    assert reasons[f"{ln}:241100"] == "EnteredDateTimeUTC '2016-04-0X 12:00' is not an ISO UTC time"
    assert reasons[f"{ln}:241101"] == "pin_game_no 99999 is not in the games file"
    assert reasons[f"{ln}:241102"] == "pin_game_no 9001 is a quarantined game of the games file"
    assert reasons[f"{ln}:241103"].startswith("2 fields, the header has 10; EnteredDateTimeUTC '2016-04-04T'")
    assert reasons[f"{ln}:241104"] == "MoneyUS1 'abc' is not a price"
    assert reasons[f"{ln}:1"] == "duplicate snapshot (same pin_game_no and time): row 241105 is kept"
    assert len(reasons) == 10
    raw_row = conn.execute(
        "SELECT raw_row FROM staging.quarantine WHERE file_name = %s AND row_number = 241101", (ln,)
    ).fetchone()
    assert raw_row == (bad_lines[1],)

    # The good rows are all there; the duplicate's later row won, flagged.
    assert conn.execute("SELECT count(*) FROM staging.pinnacle_games").fetchone() == (N_GAMES,)
    assert conn.execute("SELECT count(*) FROM staging.pinnacle_lines").fetchone() == (N_LINES,)
    kept = conn.execute(
        "SELECT away_ml, home_ml, flags FROM staging.pinnacle_lines "
        "WHERE pin_game_no = 1 AND observed_at = '2016-03-31T21:16:48.046Z'"
    ).fetchone()
    assert kept == (-120, 110, "duplicate")
    # The first row of pin_game_no 4 (SF@MIL) was kept, not the injected copy with Toronto.
    kept_game = conn.execute(
        "SELECT away_team_id FROM staging.pinnacle_games WHERE pin_game_no = 4"
    ).fetchone()
    assert kept_game == (137,)
