"""SBRO loader on the real season files 2010-2020: counts, quirks, idempotent loads, garbage rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal
from rich.progress import Progress

from mlbedge.domain.teams import TEAMS
from mlbedge.sources.historical.common import DataFileError, RawFile
from mlbedge.sources.historical.sbro import FLAGS, GAME_SCHEMA, load_sbro_files, parse_sbro
from mlbedge.storage.database import fetch_frame

SEASONS = range(2010, 2021)
# Games per season after pairing, as documented in shared/data/mlb/SOURCES.md §1.
GAMES = {
    2010: 2462,
    2011: 2467,
    2012: 2467,
    2013: 2469,
    2014: 2462,
    2015: 2465,
    2016: 2462,
    2017: 2467,
    2018: 2464,
    2019: 2464,
    2020: 949,
}
# Games after the last full day of the regular season. These are the real postseason totals
# (e.g. 2010: 15 division-series + 12 LCS + 5 World Series games), except: 2013 adds the TB@TEX
# tiebreaker (38 + 1), 2018 the MIL@CHC and COL@LAD tiebreakers (33 + 2), and the 2017 file
# lacks World Series game 7 (38 - 1).
POSTSEASON = {
    2010: 32,
    2011: 38,
    2012: 37,
    2013: 39,
    2014: 32,
    2015: 36,
    2016: 35,
    2017: 37,
    2018: 35,
    2019: 37,
    2020: 52,
}
FRANCHISES = {team.mlb_id for team in TEAMS}


def sbro_file(data_dir: Path, season: int) -> Path:
    return data_dir / "sbr" / f"mlb_odds_sbr_{season}.csv"


@pytest.fixture(scope="module")
def parsed(data_dir: Path) -> dict[int, tuple[pl.DataFrame, pl.DataFrame]]:
    """Every season parsed once for the pure (database-free) tests."""
    return {season: parse_sbro(RawFile.read(sbro_file(data_dir, season))) for season in SEASONS}


@pytest.fixture(scope="module")
def games(parsed: dict[int, tuple[pl.DataFrame, pl.DataFrame]]) -> pl.DataFrame:
    return pl.concat([frame for frame, _ in parsed.values()])


def one_game(games: pl.DataFrame, day: date, away: str, home: str) -> dict:
    rows = games.filter(pl.col("date") == day, pl.col("away_code") == away, pl.col("home_code") == home)
    assert rows.height == 1, f"{away}@{home} {day}: {rows.height} games"
    return rows.row(0, named=True)


def has_flag(flag: str) -> pl.Expr:
    return pl.col("flags").str.split(",").list.contains(flag)


# --- parsing every real season --------------------------------------------------------------


def test_every_season_pairs_into_the_documented_game_counts(parsed) -> None:
    for season, (frame, quarantined) in parsed.items():
        assert quarantined.is_empty(), f"{season}: {quarantined.rows()}"
        assert frame.height == GAMES[season], season
        assert (frame["season"] == season).all()
        assert frame["date"].dt.year().eq(season).all()


def test_postseason_is_found_without_a_list_of_dates(parsed) -> None:
    for season, (frame, _) in parsed.items():
        post = frame.filter(pl.col("game_type") == "P")
        assert post.height == POSTSEASON[season], season
        # Every postseason game comes after every regular-season game.
        assert post["date"].min() > frame.filter(pl.col("game_type") == "R")["date"].max()
    assert set(pl.concat([f["game_type"] for f, _ in parsed.values()]).unique()) == {"R", "P"}


def test_games_have_the_table_columns_franchise_ids_and_unique_keys(games: pl.DataFrame) -> None:
    assert games.schema == pl.Schema(GAME_SCHEMA)
    assert set(games["away_team_id"]) | set(games["home_team_id"]) == FRANCHISES
    assert (games["away_team_id"] != games["home_team_id"]).all()
    key = ["season", "date", "away_team_id", "home_team_id", "dh_index"]
    assert games.select(key).is_duplicated().sum() == 0
    # Flags are names from the documented list, comma-separated without empties.
    flags = games["flags"].str.split(",").explode()
    assert set(flags.filter(flags != "")) <= set(FLAGS)


def test_team_codes_of_every_era_are_normalised(games: pl.DataFrame) -> None:
    ids = dict(
        pl.concat(
            [
                games.select(code="away_code", team_id="away_team_id"),
                games.select(code="home_code", team_id="home_team_id"),
            ]
        )
        .unique()
        .iter_rows()
    )
    assert ids["LOS"] == ids["LAD"] == 119  # Dodgers through 2017 / from 2018, mixed in 2016 and 2020
    assert ids["CUB"] == ids["CHC"] == 112
    assert ids["SFO"] == ids["SFG"] == 137
    assert ids["MIA"] == 146  # Marlins are MIA even in 2010-11
    assert ids["BRS"] == ids["BOS"] == 111  # one 2020 row
    assert len(ids) == 34  # 30 franchises, 4 of them under two codes
    assert set(ids.values()) == FRANCHISES


# --- the documented quirks ------------------------------------------------------------------


def test_2010_half_point_totals_written_as_text(parsed) -> None:
    frame, _ = parsed[2010]
    game = one_game(frame, date(2010, 9, 26), "HOU", "PIT")  # CloseOU "7½" on both rows
    assert game["total_close"] == 7.5
    assert game["total_open"] == 8.0
    assert frame["total_close"].null_count() == 0
    # 50 rows = 25 games carry ½; each must now be a .5 total.
    assert frame.filter(pl.col("total_close") % 1 == 0.5).height >= 25


def test_2010_cin_at_cub_rows_with_adjacent_dates(parsed) -> None:
    frame, _ = parsed[2010]
    flagged = frame.filter(has_flag("date_mismatch"))
    assert flagged.height == 1
    game = flagged.row(0, named=True)
    assert (game["away_code"], game["home_code"]) == ("CIN", "CUB")
    # Visitor row says 630, home row 701; both teams played other games at home on 630.
    assert game["date"] == date(2010, 7, 1)
    assert (game["away_score"], game["home_score"]) == (3, 2)


def test_2016_nym_at_pit_without_a_score(parsed) -> None:
    game = one_game(parsed[2016][0], date(2016, 6, 6), "NYM", "PIT")
    assert game["away_score"] is None and game["home_score"] is None
    assert game["away_innings"] is None and game["home_innings"] is None
    assert game["flags"] == "no_score"
    assert (game["away_ml_close"], game["home_ml_close"]) == (118, -128)


def test_2018_rot_907_on_both_rows(parsed, games: pl.DataFrame) -> None:
    game = one_game(parsed[2018][0], date(2018, 5, 18), "CUB", "CIN")
    assert (game["rot_away"], game["rot_home"]) == (907, 907)
    assert "rot_mismatch" in game["flags"].split(",")
    assert (game["away_score"], game["home_score"]) == (8, 1)
    assert games.filter(has_flag("rot_mismatch")).height == 1


def test_2018_half_cent_moneylines_rounded_away_from_zero(parsed, games: pl.DataFrame) -> None:
    flagged = parsed[2018][0].filter(has_flag("half_cent_price"))
    # -219.5 / 189.5 in the file.
    assert flagged.select("away_ml_close", "home_ml_close").rows() == [(-220, 190), (-220, 190)]
    assert games.filter(has_flag("half_cent_price")).height == 2


def test_2019_missing_opening_moneylines_are_null_not_suspect(parsed) -> None:
    frame, _ = parsed[2019]
    no_open = frame.filter(pl.col("away_ml_open").is_null())
    assert no_open.height == 5
    assert no_open["home_ml_open"].null_count() == 5
    assert no_open["away_ml_close"].null_count() == 0
    assert not no_open["flags"].str.contains("suspect").any()


def test_2019_typo_opening_moneyline_is_kept_but_flagged(parsed) -> None:
    game = one_game(parsed[2019][0], date(2019, 5, 4), "SFO", "CIN")
    assert (game["away_ml_open"], game["home_ml_open"]) == (770, -1235)
    assert game["flags"].split(",") == ["suspect_ml_open"]
    assert parsed[2019][0].filter(has_flag("suspect_ml_open")).height == 1


def test_neutral_sites_2019_tokyo_and_2020_postseason(parsed) -> None:
    tokyo = parsed[2019][0].filter(pl.col("neutral_site"))
    assert tokyo.select("date", "away_code", "home_code", "game_type").rows() == [
        (date(2019, 3, 20), "SEA", "OAK", "R"),
        (date(2019, 3, 21), "SEA", "OAK", "R"),
    ]
    frame = parsed[2020][0]
    assert frame.filter(pl.col("neutral_site")).height == 52
    assert (frame.filter(pl.col("neutral_site"))["game_type"] == "P").all()
    assert frame.filter(pl.col("game_type") == "P")["neutral_site"].all()
    # The file ends with World Series game 5 (10-25); game 6 (10-27) is not in it.
    assert frame["date"].max() == date(2020, 10, 25)


def test_2020_09_18_block_of_misplaced_prices_is_flagged_whole(parsed) -> None:
    frame, _ = parsed[2020]
    day = frame.filter(pl.col("date") == date(2020, 9, 18))
    assert day.height == 18
    for flag in ("suspect_ml_open", "suspect_ml_close", "suspect_rl_odds"):
        assert day.filter(has_flag(flag)).height == 18, flag
    # Totals were fine that day, and no other 2020 day is flagged.
    assert not day["flags"].str.contains("suspect_total").any()
    assert frame.filter(
        pl.col("date") != date(2020, 9, 18), pl.col("flags").str.contains("suspect")
    ).is_empty()


def test_other_untrustworthy_prices(games: pl.DataFrame) -> None:
    suspect_rl = games.filter(has_flag("suspect_rl_odds"), pl.col("date") != date(2020, 9, 18))
    # Run-line prices whose implied probabilities sum to 1.19, 0.90, 0.82 and 1.21.
    assert suspect_rl.select("date", "away_rl_odds", "home_rl_odds").rows() == [
        (date(2015, 6, 28), -105, -215),
        (date(2016, 8, 23), 140, 105),
        (date(2017, 7, 1), 163, 127),
        (date(2017, 9, 2), -168, -140),
    ]
    assert not games["flags"].str.contains("suspect_total").any()
    assert games.filter(has_flag("nonstandard_rl"))["away_rl"].to_list() == [-1.0, -0.5]


def test_pitchers_hands_and_blanks(parsed) -> None:
    game = one_game(parsed[2010][0], date(2010, 4, 4), "NYY", "BOS")
    assert (game["away_pitcher"], game["away_pitcher_hand"]) == ("CSABATHIA", "L")
    assert (game["home_pitcher"], game["home_pitcher_hand"]) == ("JBECKETT", "R")
    frame = parsed[2017][0]
    # 31 rows of the 2017 file have no pitcher; none of them lists a hand.
    blanks = frame["away_pitcher"].null_count() + frame["home_pitcher"].null_count()
    assert blanks == 31
    assert frame.filter(
        pl.col("away_pitcher").is_null(), pl.col("away_pitcher_hand").is_not_null()
    ).is_empty()
    mixed_case = one_game(parsed[2020][0], date(2020, 9, 26), "CUB", "CWS")
    assert mixed_case["home_pitcher"] == "DDUNNING"


def test_doubleheaders_are_numbered_in_file_order_and_flagged(parsed) -> None:
    frame, _ = parsed[2015]
    dh = frame.filter(pl.col("date") == date(2015, 5, 6), pl.col("away_code") == "ARI")
    assert dh.select("dh_index", "file_row", "away_score", "home_score").rows() == [
        (1, 795, 13, 7),
        (2, 823, 5, 1),
    ]
    assert dh["flags"].to_list() == ["dh_order_unverified"] * 2
    singles = frame.filter(pl.col("dh_index") == 0)
    assert not singles["flags"].str.contains("dh_order_unverified").any()
    assert frame.filter(pl.col("dh_index") > 0).height == 58  # 29 doubleheaders, as in Retrosheet


def test_line_scores_extra_innings_and_ties(parsed, games: pl.DataFrame) -> None:
    first = one_game(parsed[2010][0], date(2010, 4, 4), "NYY", "BOS")
    assert first["away_innings"] == "0,2,0,3,0,0,2,0,0"
    assert first["home_innings"] == "0,1,0,0,1,3,3,1,x"
    assert (first["file_row"], first["away_score"], first["home_score"]) == (1, 7, 9)
    assert first["flags"] == ""
    # 10-inning game: 1+1 = 0+2 after nine, 3-2 final.
    assert "extra_innings" in one_game(parsed[2010][0], date(2010, 7, 1), "CIN", "CUB")["flags"]
    share = games.filter(has_flag("extra_innings")).height / games.height
    assert 0.07 < share < 0.11  # about 9% of MLB games go to extra innings
    tie = one_game(parsed[2016][0], date(2016, 9, 29), "CUB", "PIT")  # real 1-1 tie, 6 innings
    assert tie["flags"] == "tied_score"
    assert games.filter(has_flag("tied_score")).height == 19


def test_over_under_prices_follow_the_row_convention(parsed, data_dir: Path) -> None:
    """TOR@TAM, 2016-04-03: visitor row CloseOU_odds -130, home row 110, total 7 at both books.

    Pinnacle priced the same total over -123 / under +111, so the visitor row's price is the
    over, as SOURCES.md says.
    """
    game = one_game(parsed[2016][0], date(2016, 4, 3), "TOR", "TAM")
    assert (game["total_close"], game["over_odds_close"], game["under_odds_close"]) == (7.0, -130, 110)
    assert (game["total_open"], game["over_odds_open"], game["under_odds_open"]) == (7.0, -115, -105)
    assert (game["away_rl"], game["away_rl_odds"], game["home_rl"], game["home_rl_odds"]) == (
        1.5,
        -210,
        -1.5,
        180,
    )
    pinnacle = pl.read_csv(data_dir / "pinnacle_2016" / "pinnacle_mlb2016_games.csv").filter(
        pl.col("game_date_et") == "2016-04-03", pl.col("away_team") == "Toronto Blue Jays"
    )
    assert pinnacle.select("total_close", "total_over_odds_close", "total_under_odds_close").row(0) == (
        7.0,
        -123,
        111,
    )


def test_a_file_that_is_not_sbro_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "odds.csv"
    path.write_text("season,Date,Rot,Team\n2015,404,901,NYY\n")
    with pytest.raises(DataFileError, match=r"odds\.csv.*VH"):
        parse_sbro(RawFile.read(path))


def test_season_comes_from_the_file_name_when_the_column_is_absent(data_dir: Path, tmp_path: Path) -> None:
    lines = sbro_file(data_dir, 2015).read_text().splitlines()[:41]
    path = tmp_path / "mlb-odds-2015.csv"
    path.write_text("\n".join(line.split(",", 1)[1] for line in lines) + "\n")
    frame, quarantined = parse_sbro(RawFile.read(path))
    assert quarantined.is_empty()
    assert frame.height == 20
    assert (frame["season"] == 2015).all()
    assert (frame["game_type"] == "R").all()  # less than a season: nothing is called postseason


# --- garbage rows ---------------------------------------------------------------------------


def garbage_copy(data_dir: Path, tmp_path: Path) -> tuple[Path, dict[int, str]]:
    """The 2015 file with bad rows added; returns the path and {data row number: expected reason}."""
    lines = sbro_file(data_dir, 2015).read_text().splitlines()
    header, data = lines[0], lines[1:]
    fields = [line.split(",") for line in data]
    assert fields[98][3:5] == ["V", "NYM"] and fields[99][3:5] == ["H", "ATL"]  # 2015-04-10 NYM@ATL
    unknown = [*fields[98][:4], "XYZ", *fields[98][5:]]
    bad_final = [*fields[100][:2], "991", *fields[100][3:15], "abc", *fields[100][16:]]
    stray = [*fields[104][:2], "995", "V", "SEA", *fields[104][5:]]  # valid row, no home row
    truncated = ",".join(fields[110][:8])
    # Rows are inserted before data rows 99 (between NYM's and ATL's rows), 101, 103, 105
    # (between SFO's and its home row), 107 and 111 (between games).
    inserts = {
        99: ",".join(unknown),
        101: ",".join(bad_final),
        103: "",
        105: ",".join(stray),
        107: ",".join(stray).replace(",995,", ",997,"),
        111: truncated,
    }
    out, expected = [header], {}
    for number, line in enumerate(data, start=1):
        if number in inserts:
            out.append(inserts[number])
            expected[len(out) - 1] = line
        out.append(line)
    reasons = dict(
        zip(
            sorted(expected),
            [
                "unknown sbro team code 'XYZ'",
                "Final 'abc' is not a number",
                "blank line",
                "unpaired visitor row",
                "unpaired visitor row",
                "row has 8 fields, expected 24",
            ],
            strict=True,
        )
    )
    path = tmp_path / "mlb_odds_sbr_2015.csv"
    path.write_text("\n".join(out) + "\n")
    return path, reasons


def test_garbage_rows_do_not_shift_the_pairing(data_dir: Path, tmp_path: Path, parsed) -> None:
    path, reasons = garbage_copy(data_dir, tmp_path)
    frame, quarantined = parse_sbro(RawFile.read(path))
    assert dict(quarantined.select("row_number", "reason").iter_rows()) == reasons
    original = parsed[2015][0]
    assert_frame_equal(frame.drop("file_sha256", "file_row"), original.drop("file_sha256", "file_row"))


def test_garbage_rows_are_quarantined_in_the_database(
    conn: psycopg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    path, reasons = garbage_copy(data_dir, tmp_path)
    [summary] = load_sbro_files(conn, [path])
    assert (summary.records, summary.written, summary.quarantined) == (2465, 2465, 6)
    assert summary.rows_read == 4930 + 6
    count = fetch_frame(conn, "SELECT count(*) AS n FROM staging.sbro_games WHERE season = 2015")
    assert count["n"][0] == 2465
    stored = fetch_frame(
        conn,
        "SELECT row_number, reason, raw_row, file_name FROM staging.quarantine WHERE source = 'sbro' "
        "ORDER BY row_number",
    )
    assert dict(stored.select("row_number", "reason").iter_rows()) == reasons
    assert (stored["file_name"] == "mlb_odds_sbr_2015.csv").all()
    assert stored.filter(pl.col("reason") == "Final 'abc' is not a number")["raw_row"][0].startswith(
        "2015,410,991,"
    )
    # Loading the same garbage again adds nothing.
    [again] = load_sbro_files(conn, [path])
    assert again.written == 0
    assert fetch_frame(conn, "SELECT count(*) AS n FROM staging.quarantine")["n"][0] == 6


# --- loading into PostgreSQL ----------------------------------------------------------------

CHECKSUM = """
    SELECT count(*) AS n,
           md5(string_agg(t::text, '|' ORDER BY season, date, away_team_id, home_team_id, dh_index)) AS sum
    FROM staging.sbro_games t
"""


def test_load_every_season_twice_is_idempotent(conn: psycopg.Connection, data_dir: Path) -> None:
    files = [sbro_file(data_dir, season) for season in SEASONS]
    progress = Progress()
    first = load_sbro_files(conn, files, progress=progress)
    conn.commit()
    assert progress.tasks[0].completed == len(files)

    columns = fetch_frame(
        conn,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'staging' AND table_name = 'sbro_games' ORDER BY ordinal_position",
    )
    assert columns["column_name"].to_list() == list(GAME_SCHEMA)
    assert [s.records for s in first] == [GAMES[s] for s in SEASONS]
    assert [s.written for s in first] == [GAMES[s] for s in SEASONS]
    assert [s.quarantined for s in first] == [0] * len(files)
    by_file = {s.file_name: s for s in first}
    s2018 = by_file["mlb_odds_sbr_2018.csv"]
    assert (s2018.source, s2018.rows_read) == ("sbro", 4928)
    assert s2018.flags["half_cent_price"] == 2 and s2018.flags["rot_mismatch"] == 1
    before = fetch_frame(conn, CHECKSUM).row(0)
    assert before[0] == sum(GAMES.values())

    second = load_sbro_files(conn, files)
    conn.commit()
    assert [s.written for s in second] == [0] * len(files)
    assert [s.records for s in second] == [s.records for s in first]
    assert fetch_frame(conn, CHECKSUM).row(0) == before
    stored = fetch_frame(
        conn, "SELECT count(*) AS n, sum(size_bytes) AS bytes FROM raw.files WHERE source = 'sbro'"
    )
    assert stored.row(0) == (len(files), sum(f.stat().st_size for f in files))
    assert fetch_frame(conn, "SELECT count(*) AS n FROM staging.quarantine")["n"][0] == 0

    # What was stored is what was parsed: one game read back with its types.
    game = fetch_frame(
        conn,
        "SELECT total_close, over_odds_close, under_odds_close, game_type, flags FROM staging.sbro_games "
        "WHERE date = '2010-09-26' AND away_code = 'HOU'",
    ).row(0)
    assert (float(game[0]), *game[1:]) == (7.5, -115, -105, "R", "")


def test_each_bad_field_is_named_in_the_reason(data_dir: Path, tmp_path: Path) -> None:
    lines = sbro_file(data_dir, 2015).read_text().splitlines()[:11]  # header + 5 games
    visitor = lines[3].split(",")  # 2015-04-06 row 3: a visitor row
    assert visitor[3] == "V"

    def variant(**changes: str) -> str:
        header = lines[0].split(",")
        fields = list(visitor)
        for name, value in changes.items():
            fields[header.index(name)] = value
        return ",".join(fields)

    bad = [
        variant(Team=""),
        variant(Date="1345", VH="Q", Open="abc"),
        variant(Final=""),
        variant(season="15", Rot="9O1", CloseOU="8-½"),
        lines[10],  # the last game's home row a second time
    ]
    path = tmp_path / "mlb_odds_sbr_2015.csv"
    path.write_text("\n".join([*lines[:7], *bad[:4], *lines[7:], bad[4]]) + "\n")
    frame, quarantined = parse_sbro(RawFile.read(path))
    assert frame.height == 5
    assert quarantined.select("row_number", "reason").rows() == [
        (7, "Team is blank"),
        (8, "Date '1345' is not a MMDD date; VH 'Q' is not V, H or N; Open 'abc' is not a price"),
        (9, "Final is blank"),
        (10, "season '15' is not a year; Rot '9O1' is not a number; CloseOU '8-½' is not a number"),
        (15, "unpaired home row"),
    ]
    assert quarantined["raw_row"].to_list() == bad
