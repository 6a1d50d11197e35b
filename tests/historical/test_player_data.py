"""Player-level loaders on the real files: game-log lineups, umpires and completion; Lahman; retrosplits."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import polars as pl
import psycopg
import pytest

from mlbedge.sources.historical.common import DataFileError, RawFile
from mlbedge.sources.historical.lahman import FILES, load_lahman
from mlbedge.sources.historical.retrosheet import load_retrosheet_files, parse_retrosheet_lineups
from mlbedge.sources.historical.retrosplits import (
    file_kind,
    load_retrosplits_files,
    parse_platoon,
    parse_team_games,
)
from mlbedge.storage.database import fetch_frame

# SOURCES.md §6 and §8.
GAMES = {
    2010: 2430, 2011: 2429, 2012: 2430, 2013: 2431, 2014: 2430, 2015: 2429, 2016: 2428,
    2017: 2430, 2018: 2431, 2019: 2429, 2020: 898,
}  # fmt: skip
TEAM_ROWS = {
    2010: 9786, 2011: 9794, 2012: 9792, 2013: 9798, 2014: 9782, 2015: 9786, 2016: 9780,
    2017: 9794, 2018: 9788, 2019: 9788, 2020: 3698,
}  # fmt: skip
LAHMAN_ROWS = {"People.csv": 4845, "Batting.csv": 22789, "Pitching.csv": 12151, "Teams.csv": 480}


@pytest.fixture(scope="module")
def logs(data_dir: Path) -> dict[int, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]]:
    return {s: parse_retrosheet_lineups(RawFile.read(data_dir / "retrosheet" / f"GL{s}.TXT")) for s in GAMES}


def test_every_season_has_eighteen_lineup_slots_per_game_with_positions(logs) -> None:
    for season, (games, lineups, bad) in logs.items():
        assert bad.is_empty(), season
        assert games.height == GAMES[season]
        assert lineups.height == 18 * GAMES[season], season
        per_side = lineups.group_by("date", "home_team_id", "game_num", "side").agg(
            pl.col("batting_order").sort().alias("order"), pl.col("position").sort().alias("positions")
        )
        assert per_side.height == 2 * GAMES[season]
        assert all(o == list(range(1, 10)) for o in per_side["order"].to_list())
        # Nine distinct fielders (or eight and a DH) in every starting lineup.
        assert per_side["positions"].list.n_unique().min() == 9
        assert set(lineups["position"].unique()) <= set(range(1, 11))
        # Every plate umpire is there; the side's team is the one the game names.
        assert games["ump_hp_id"].null_count() == 0
        home = lineups.filter(pl.col("side") == "home")
        assert (home["team_id"] == home["home_team_id"]).all()


def test_a_lineup_matches_an_independent_reading(logs, data_dir: Path) -> None:
    # 2019-05-19 OAK at DET, fields 106-132 (visitor id, name, position x 9) read by the csv module.
    with (data_dir / "retrosheet" / "GL2019.TXT").open(newline="") as handle:
        row = next(r for r in csv.reader(handle) if r[0] == "20190519" and r[3] == "OAK")
    expected = [(row[105 + 3 * k], row[107 + 3 * k]) for k in range(9)]
    _, lineups, _ = logs[2019]
    oakland = 133
    game = lineups.filter((pl.col("date") == date(2019, 5, 19)) & (pl.col("team_id") == oakland))
    assert (game["side"] == "away").all()
    assert list(zip(game["player_id"], game["position"].cast(pl.String), strict=True)) == expected
    assert set(game["position"]) == set(range(2, 11))  # the AL park: a DH, no pitcher batting


def test_suspended_games_are_observed_on_their_completion_date(logs) -> None:
    games, _, _ = logs[2019]
    done = {
        (r["date"], r["away_code"], r["home_code"]): (r["completion_date"], r["completion_park_id"])
        for r in games.filter(pl.col("completion_date").is_not_null()).iter_rows(named=True)
    }
    assert done[(date(2019, 5, 19), "OAK", "DET")] == (date(2019, 9, 6), "OAK01")
    assert done[(date(2019, 8, 7), "KCA", "BOS")][0] == date(2019, 8, 22)
    # Completion is always later than the start; unsuspended games have none.
    suspended = pl.concat([g.filter(pl.col("completion").is_not_null()) for g, _, _ in logs.values()])
    assert suspended.height == 23  # 2 1 0 2 5 4 1 0 2 4 2 across 2010-2020
    assert (suspended["completion_date"] > suspended["date"]).all()


def test_2020_home_team_batted_first_is_flagged(logs) -> None:
    games, _, _ = logs[2020]
    assert games["htbf"].sum() == 28  # SOURCES.md §6
    assert all(not g["htbf"].any() for s, (g, _, _) in logs.items() if s != 2020)


def test_a_bad_completion_or_position_is_quarantined_and_the_rest_loaded(
    conn: psycopg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    lines = (data_dir / "retrosheet" / "GL2019.TXT").read_bytes().decode().split("\r\n")
    oak = next(i for i, line in enumerate(lines) if line.startswith('"20190519","0","Sun","OAK"'))
    lines[oak] = lines[oak].replace('"20190906,OAK01,5,3,39"', '"someday,OAK01,5,3,39"')
    lines[5] = lines[5].replace('"Harrison Bader",8,', '"Harrison Bader",X,')  # not a position
    broken = tmp_path / "GL2019.TXT"
    broken.write_bytes("\r\n".join(lines).encode())
    # The file as shipped first, then a newer version of it: the newer one is the whole truth.
    [original] = load_retrosheet_files(conn, [data_dir / "retrosheet" / "GL2019.TXT"])
    assert original.records == 2429
    assert conn.execute("SELECT count(*) FROM staging.retrosheet_lineups").fetchone() == (18 * 2429,)
    [summary] = load_retrosheet_files(conn, [broken])
    assert (summary.records, summary.quarantined) == (2427, 2)
    reasons = dict(conn.execute("SELECT row_number, reason FROM staging.quarantine ORDER BY 1").fetchall())
    assert "completion (field 14) 'someday,OAK01,5,3,39'" in reasons[oak + 1]
    assert "is not a position 1-10" in reasons[6]
    # The two games now quarantined take their lineups with them.
    counted = conn.execute("SELECT count(*) FROM staging.retrosheet_lineups").fetchone()
    assert counted == (18 * 2427,)
    again = load_retrosheet_files(conn, [broken])
    assert again[0].written == 0


def test_lahman_tables_load_with_their_counts_and_reload_writes_nothing(
    conn: psycopg.Connection, data_dir: Path
) -> None:
    summaries = load_lahman(conn, data_dir / "lahman")
    assert {s.file_name: (s.records, s.quarantined) for s in summaries} == {
        name: (n, 0) for name, n in LAHMAN_ROWS.items()
    }
    for name, n in LAHMAN_ROWS.items():
        table = FILES[name][1]
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (n,)
    verlander = fetch_frame(conn, "SELECT * FROM staging.lahman_people WHERE retro_id = 'verlj001'")
    assert verlander.row(0, named=True)["name_last"] == "Verlander"
    assert verlander.row(0, named=True)["debut"] == date(2005, 7, 4)
    teams = fetch_frame(conn, "SELECT year_id, team_id_retro, bpf, ppf FROM staging.lahman_teams")
    assert teams.group_by("year_id").len()["len"].unique().to_list() == [30]
    assert teams["bpf"].is_between(80, 130).all()
    assert sum(s.written for s in load_lahman(conn, data_dir / "lahman")) == 0


def test_lahman_subset_and_bad_rows(conn: psycopg.Connection, data_dir: Path, tmp_path: Path) -> None:
    text = (data_dir / "lahman" / "People.csv").read_text().splitlines()
    parts = text[3].split(",")
    text[3] = ",".join([*parts[:6], "nineteen", *parts[7:]])  # birthYear that is not a number
    text[7] = ",".join(text[7].split(",")[:5])  # a short row
    content = ("\n".join(text) + "\n").encode()
    line_11 = text[11].encode()
    content = content.replace(line_11, line_11.replace(b",", b"\xff,", 1))  # a byte that is not UTF-8
    (tmp_path / "People.csv").write_bytes(content)
    [summary] = load_lahman(conn, tmp_path)  # People alone is a valid subset
    assert (summary.records, summary.quarantined, summary.status) == (4845 - 3, 3, "loaded")
    reasons = dict(conn.execute("SELECT row_number, reason FROM staging.quarantine").fetchall())
    assert reasons[3] == "birthYear 'nineteen' is not a whole number"
    assert reasons[7] == "5 fields, the header has 11"
    assert reasons[11].startswith("not UTF-8 text")
    with pytest.raises(DataFileError, match="no Lahman files"):
        load_lahman(conn, tmp_path / "nothing-here")


def test_retrosplits_team_games_one_row_per_team_and_game(data_dir: Path) -> None:
    for season, n_rows in TEAM_ROWS.items():
        raw = RawFile.read(data_dir / "retrosplits" / f"teams-{season}.csv")
        assert file_kind(raw) == "teams"
        games, bad = parse_team_games(raw)
        assert bad.is_empty()
        assert games.select("game_key", "team_key").n_unique() == games.height
        regular = games.filter(pl.col("season_phase") == "R")
        assert regular.height == 2 * GAMES[season], season
        # Regular season: the box score's totals, pitch counts from the event file.
        assert (regular["totals_source"] == "box").all()
        assert regular["p_pitch"].null_count() == 0 and regular["b_pa"].null_count() == 0
        # Every source row is one of the kept rows or its other-source twin.
        others = games.filter(pl.col("season_phase") != "R")
        assert 2 * regular.height + others.height == n_rows
        assert others["totals_source"].eq("evt").all()


def test_retrosplits_totals_match_the_game_log(data_dir: Path, logs) -> None:
    games, _, _ = logs[2019]
    split, _ = parse_team_games(RawFile.read(data_dir / "retrosplits" / "teams-2019.csv"))
    home = split.filter((pl.col("season_phase") == "R") & (pl.col("team_alignment") == 1))
    joined = home.join(
        games.select(
            pl.col("date").alias("game_date"),
            pl.col("home_team_id").alias("team_id"),
            pl.col("game_num").cast(pl.Int16).alias("game_number"),
            "home_score",
            "away_score",
        ),
        on=["game_date", "team_id", "game_number"],
    )
    assert joined.height == GAMES[2019]
    assert (joined["b_r"] == joined["home_score"]).all() and (joined["p_r"] == joined["away_score"]).all()


def test_platoon_splits_and_bad_rows(conn: psycopg.Connection, data_dir: Path, tmp_path: Path) -> None:
    raw = RawFile.read(data_dir / "retrosplits" / "pitching-platoon-2010.csv")
    assert file_kind(raw) == "platoon"
    splits, bad = parse_platoon(raw)
    assert (splits.height, bad.height) == (1535, 0)  # SOURCES.md §8
    assert set(splits["batter_hand"]) <= {"L", "R", "B", "?"}
    lines = raw.content.decode().splitlines()
    parts = lines[10].split(",")
    lines[10] = ",".join([*parts[:3], "Q", *parts[4:]])  # RESP_PIT_HAND_CD
    lines.append(lines[20])  # the same pitcher and hands twice
    broken = tmp_path / "pitching-platoon-2010.csv"
    broken.write_text("\n".join(lines) + "\n")
    teams = tmp_path / "teams-2020.csv"
    rows = (data_dir / "retrosplits" / "teams-2020.csv").read_text().splitlines()
    parts = rows[100].split(",")
    rows[100] = ",".join([*parts[:2], "2020-13-45", *parts[3:]])  # game.date
    parts = rows[200].split(",")
    rows[200] = ",".join([*parts[:2], "2019-08-01", *parts[3:]])  # a date of another season
    teams.write_text("\n".join(rows) + "\n")
    first = load_retrosplits_files(conn, [broken, teams])
    assert [(s.records, s.quarantined) for s in first] == [(1534, 2), (1902, 2)]
    reasons = fetch_frame(conn, "SELECT file_name, row_number, reason FROM staging.quarantine ORDER BY 1, 2")
    assert reasons.row(0) == ("pitching-platoon-2010.csv", 10, "RESP_PIT_HAND_CD 'Q' is not a hand")
    assert "duplicate row" in reasons.row(1)[2] and "row 20 is kept" in reasons.row(1)[2]
    assert reasons.row(2)[:2] == ("teams-2020.csv", 100)
    assert "game.date '2020-13-45' is not a yyyy-mm-dd date" in reasons.row(2)[2]
    assert reasons.row(3)[1:] == (200, "game.date '2019-08-01' is not in the file's season 2020")
    assert sum(s.written for s in load_retrosplits_files(conn, [broken, teams])) == 0


def test_a_file_that_is_neither_kind_is_refused(data_dir: Path) -> None:
    raw = RawFile.read(data_dir / "lahman" / "Teams.csv")
    with pytest.raises(DataFileError, match="neither a retrosplits teams file"):
        file_kind(raw)


def test_the_load_commands_take_a_lahman_folder_and_retrosplits_files(
    settings, data_dir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from mlbedge.cli.main import app

    runner = CliRunner()
    lahman = runner.invoke(app, ["data", "load", "lahman", str(data_dir / "lahman"), "--home", str(tmp_path)])
    assert lahman.exit_code == 0, lahman.output
    assert "People.csv" in lahman.output and "22,789" in lahman.output
    files = [
        data_dir / "retrosplits" / "teams-2020.csv",
        data_dir / "retrosplits" / "pitching-platoon-2020.csv",
    ]
    splits = runner.invoke(app, ["data", "load", "retrosplits", *map(str, files), "--home", str(tmp_path)])
    assert splits.exit_code == 0, splits.output
    assert "1,902" in splits.output and "2,093" in splits.output
    refused = runner.invoke(
        app, ["data", "load", "retrosplits", str(data_dir / "lahman" / "Teams.csv"), "--home", str(tmp_path)]
    )
    message = " ".join(refused.output.split())  # the console wraps long lines
    assert (
        refused.exit_code != 0
        and "Teams.csv, row 0: the header is neither a retrosplits teams file" in message
    )
