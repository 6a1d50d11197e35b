"""Retrosheet game-log loader on the real 2015 and 2019 logs: fields, doubleheaders, CRLF, garbage."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import polars as pl
import psycopg
import pytest

from mlbedge.domain.teams import TEAMS
from mlbedge.sources.historical.common import DataFileError, RawFile
from mlbedge.sources.historical.retrosheet import (
    FIELDS,
    GAME_SCHEMA,
    TEAM_STAT_FIELDS,
    load_retrosheet_files,
    parse_retrosheet,
)

SEASONS = (2015, 2019)
N_GAMES = 2429
DOUBLEHEADERS = {2015: 29, 2019: 33}  # SOURCES.md §3


def log_file(data_dir: Path, season: int) -> Path:
    return data_dir / "retrosheet" / f"GL{season}.TXT"


@pytest.fixture(scope="module")
def parsed(data_dir: Path) -> dict[int, tuple[pl.DataFrame, pl.DataFrame]]:
    """Both seasons parsed once, without a database."""
    return {season: parse_retrosheet(RawFile.read(log_file(data_dir, season))) for season in SEASONS}


def reference_rows(path: Path) -> list[dict[str, str]]:
    """The file split by Python's csv module: an independent reading to compare against."""
    with path.open(newline="") as handle:
        return [dict(zip(FIELDS, row, strict=True)) for row in csv.reader(handle)]


def test_field_names_are_retrosheets_161(data_dir: Path) -> None:
    with (data_dir / "retrosheet" / "retrosheet_gamelog_fields.csv").open(newline="") as handle:
        published = [row["name"] for row in csv.DictReader(handle)]
    assert tuple(published) == FIELDS
    assert len(FIELDS) == 161
    assert TEAM_STAT_FIELDS[0] == "v_ab" and TEAM_STAT_FIELDS[-1] == "h_tp" and len(TEAM_STAT_FIELDS) == 56


@pytest.mark.parametrize("season", SEASONS)
def test_every_game_parses_with_its_doubleheaders(
    parsed: dict[int, tuple[pl.DataFrame, pl.DataFrame]], season: int
) -> None:
    games, bad = parsed[season]
    assert bad.is_empty()
    assert games.height == N_GAMES
    assert dict(games.schema) == GAME_SCHEMA
    assert games["date"].dt.year().unique().to_list() == [season]
    assert set(games["home_team_id"]) == set(games["away_team_id"]) == {t.mlb_id for t in TEAMS}
    counts = dict(games["game_num"].value_counts().iter_rows())
    assert counts == {
        0: N_GAMES - 2 * DOUBLEHEADERS[season],
        1: DOUBLEHEADERS[season],
        2: DOUBLEHEADERS[season],
    }
    firsts = games.filter(pl.col("game_num") == 1).select("date", "home_team_id")
    seconds = games.filter(pl.col("game_num") == 2).select("date", "home_team_id")
    assert firsts.sort(pl.all()).equals(seconds.sort(pl.all()))


@pytest.mark.parametrize("season", SEASONS)
def test_every_field_matches_an_independent_reading(
    parsed: dict[int, tuple[pl.DataFrame, pl.DataFrame]], data_dir: Path, season: int
) -> None:
    games, _ = parsed[season]
    rows = reference_rows(log_file(data_dir, season))
    assert len(rows) == games.height

    def number(text: str) -> int | None:
        return int(text) if text else None

    expected = pl.DataFrame(
        {
            "date": [date(int(r["date"][:4]), int(r["date"][4:6]), int(r["date"][6:])) for r in rows],
            "game_num": [int(r["game_num"]) for r in rows],
            "away_code": [r["v_team"] for r in rows],
            "home_code": [r["h_team"] for r in rows],
            "day_of_week": [r["day_of_week"] for r in rows],
            "day_night": [r["day_night"] for r in rows],
            "park_id": [r["park_id"] for r in rows],
            "attendance": [number(r["attendance"]) for r in rows],
            "length_outs": [number(r["length_outs"]) for r in rows],
            "length_minutes": [number(r["duration_min"]) for r in rows],
            "away_score": [int(r["v_score"]) for r in rows],
            "home_score": [int(r["h_score"]) for r in rows],
            "away_line_score": [r["v_line_score"] for r in rows],
            "home_line_score": [r["h_line_score"] for r in rows],
            "away_starter_id": [r["v_starting_pitcher_id"] for r in rows],
            "away_starter_name": [r["v_starting_pitcher_name"] for r in rows],
            "home_starter_id": [r["h_starting_pitcher_id"] for r in rows],
            "home_starter_name": [r["h_starting_pitcher_name"] for r in rows],
            "file_row": list(range(1, len(rows) + 1)),
        }
    )
    ours = games.select(expected.columns).cast(
        {c: pl.Int64 for c in expected.columns if expected[c].dtype == pl.Int64}
    )
    assert ours.equals(expected)
    stats = [json.loads(s) for s in games["stats"]]
    assert stats == [{name: int(r[name]) for name in TEAM_STAT_FIELDS} for r in rows]


def test_one_game_against_its_raw_line(
    parsed: dict[int, tuple[pl.DataFrame, pl.DataFrame]], data_dir: Path
) -> None:
    line = log_file(data_dir, 2015).read_text().split("\n")[0]
    assert line.startswith(
        '"20150405","0","Sun","SLN","NL",1,"CHN","NL",1,3,0,54,"N","","","","CHI11",35055,184,'
    )
    game = parsed[2015][0].row(0, named=True)
    assert (game["date"], game["game_num"], game["day_of_week"]) == (date(2015, 4, 5), 0, "Sun")
    assert (game["away_code"], game["away_team_id"], game["home_code"], game["home_team_id"]) == (
        "SLN",
        138,
        "CHN",
        112,
    )
    assert (game["away_score"], game["home_score"], game["length_outs"], game["day_night"]) == (3, 0, 54, "N")
    assert (game["park_id"], game["attendance"], game["length_minutes"]) == ("CHI11", 35055, 184)
    assert (game["away_line_score"], game["home_line_score"]) == ("110010000", "000000000")
    assert (game["away_starter_id"], game["away_starter_name"]) == ("waina001", "Adam Wainwright")
    assert (game["home_starter_id"], game["home_starter_name"]) == ("lestj001", "Jon Lester")
    stats = json.loads(game["stats"])
    assert (stats["v_ab"], stats["v_h"], stats["v_k"], stats["v_lob"]) == (36, 10, 11, 10)
    assert (stats["h_ab"], stats["h_h"], stats["h_e"], stats["h_pitchers_used"]) == (32, 5, 2, 6)


def test_a_quoted_field_with_commas_does_not_shift_the_fields(
    parsed: dict[int, tuple[pl.DataFrame, pl.DataFrame]],
) -> None:
    # OAK@DET 2019-05-19 was suspended and completed on 2019-09-06 in Oakland: its completion
    # field is "20190906,OAK01,5,3,39". Every field after it must still line up.
    games = parsed[2019][0]
    game = games.filter(pl.col("date") == date(2019, 5, 19), pl.col("home_code") == "DET").row(0, named=True)
    assert (game["away_code"], game["away_score"], game["home_score"]) == ("OAK", 7, 3)
    assert (game["park_id"], game["attendance"], game["length_minutes"]) == ("DET05", 15680, 178)
    assert (game["away_line_score"], game["home_line_score"]) == ("003000202", "201000000")
    assert json.loads(game["stats"])["v_ab"] == 37


def test_crlf_and_lf_files_parse_alike(
    data_dir: Path, parsed: dict[int, tuple[pl.DataFrame, pl.DataFrame]]
) -> None:
    crlf = log_file(data_dir, 2019).read_bytes()
    assert crlf.count(b"\r\n") == N_GAMES
    lf = RawFile(path=Path("GL2019.TXT"), content=crlf.replace(b"\r\n", b"\n"))
    games_lf, bad = parse_retrosheet(lf)
    assert bad.is_empty()
    games_crlf = parsed[2019][0]
    assert games_lf.drop("file_sha256").equals(games_crlf.drop("file_sha256"))
    texts = games_crlf.select(pl.col(pl.String).str.contains("\r").any())
    assert not any(texts.row(0))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "GL2020.TXT"
    empty.write_text("\n\n")
    with pytest.raises(DataFileError, match=r"GL2020\.TXT: no game lines"):
        parse_retrosheet(RawFile.read(empty))


# --- loading into PostgreSQL ----------------------------------------------------------------


def digest(conn: psycopg.Connection) -> tuple:
    row = conn.execute(
        "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY date, home_team_id, game_num)) "
        "FROM staging.retrosheet_games t"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_load_stores_both_seasons_and_a_second_load_changes_nothing(
    conn: psycopg.Connection, data_dir: Path
) -> None:
    paths = [log_file(data_dir, season) for season in SEASONS]
    summaries = load_retrosheet_files(conn, paths)
    assert [(s.file_name, s.rows_read, s.records, s.written, s.quarantined) for s in summaries] == [
        ("GL2015.TXT", N_GAMES, N_GAMES, N_GAMES, 0),
        ("GL2019.TXT", N_GAMES, N_GAMES, N_GAMES, 0),
    ]
    assert conn.execute("SELECT count(*) FROM raw.files WHERE source = 'retrosheet'").fetchone() == (2,)
    row = conn.execute(
        "SELECT away_starter_name, (stats->>'v_ab')::int, (stats->>'h_e')::int, jsonb_typeof(stats->'v_ab') "
        "FROM staging.retrosheet_games WHERE date = '2015-04-05' AND home_team_id = 112 AND game_num = 0"
    ).fetchone()
    assert row == ("Adam Wainwright", 36, 2, "number")
    dh = conn.execute(
        "SELECT extract(year FROM date)::int, count(*) FROM staging.retrosheet_games "
        "WHERE game_num = 2 GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert dh == [(2015, 29), (2019, 33)]

    before = digest(conn)
    again = load_retrosheet_files(conn, paths)
    assert [s.written for s in again] == [0, 0]
    assert digest(conn) == before
    assert before[0] == 2 * N_GAMES


def with_field(line: str, index: int, value: str) -> str:
    """The line with field ``index`` (0-based, one of the first 30, which hold no commas) replaced."""
    parts = line.split(",", 30)
    parts[index] = value
    return ",".join(parts)


def test_garbage_lines_are_quarantined_and_good_lines_load(
    conn: psycopg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    lines = log_file(data_dir, 2015).read_text().rstrip("\n").split("\n")
    bad = [
        ",".join(lines[1].split(",")[:100]),  # line 2430: truncated
        with_field(lines[2], 0, '"20151345"'),  # 2431: bad date
        with_field(lines[3], 3, '"XXX"'),  # 2432: unknown visiting team
        with_field(lines[4], 1, '"7"'),  # 2433: bad game_num
        with_field(lines[5], 21, "3x"),  # 2434: non-numeric at-bats
        lines[9],  # 2435: the game of line 10 again
        lines[6].replace('","', '",', 1),  # 2436: a quote dropped
        lines[8].replace('"Sun"', '"Sun"x', 1).replace('"Mon"', '"Mon"x', 1),  # 2437: junk after a quote
        with_field(with_field(lines[7], 0, '"20151010"'), 1, '"A"'),  # 2438: three-team DH game A: good
    ]
    path = tmp_path / "GL2015.TXT"
    path.write_text("\n".join([*lines, *bad]) + "\n")

    (summary,) = load_retrosheet_files(conn, [path])
    assert (summary.rows_read, summary.records, summary.quarantined) == (N_GAMES + 9, N_GAMES + 1, 8)
    reasons = dict(
        conn.execute("SELECT row_number, reason FROM staging.quarantine ORDER BY row_number").fetchall()
    )
    assert reasons == {
        2430: "100 fields, a game log line has 161",
        2431: "date (field 1) '20151345' is not a yyyymmdd date",
        2432: "v_team (field 4) 'XXX' is not a known retrosheet team code",
        2433: "game_num (field 2) '7' is not 0, 1, 2, A or B",
        2434: "v_ab (field 22) '3x' is not a whole number",
        2435: "duplicate game (same date, home team and game_num): line 10 is kept",
        2436: "badly quoted field (a stray or unclosed double quote)",
        2437: "badly quoted field (a stray or unclosed double quote)",
    }
    raw_rows = dict(conn.execute("SELECT row_number, raw_row FROM staging.quarantine").fetchall())
    assert raw_rows[2432] == bad[2]
    assert conn.execute("SELECT count(*) FROM staging.retrosheet_games").fetchone() == (N_GAMES + 1,)
    game_a = conn.execute(
        "SELECT game_num, file_row FROM staging.retrosheet_games WHERE date = '2015-10-10'"
    ).fetchone()
    assert game_a == (1, 2438)
