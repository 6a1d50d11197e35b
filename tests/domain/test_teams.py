"""The team crosswalk against every real vocabulary we hold: each code resolves, and to the right club.

The oracle is the data itself: the crosswalk table of fixtures/sources/SOURCES.md §5, the MLB Stats
API teams payload, the names written next to codes in the SBD and Action Network payloads, and the
league column of the Retrosheet logs. Nothing here repeats the mapping of ``teams.py`` by hand except
the aliases the data notes call out.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import polars as pl
import pytest

from mlbedge.domain.teams import (
    TEAMS,
    TeamSource,
    UnknownTeamError,
    by_action_network_id,
    by_mlb_id,
    codes,
    resolve,
)

ALL_MLB_IDS = {team.mlb_id for team in TEAMS}
DIVISION_LETTER = {"EAST": "E", "CENTRAL": "C", "WEST": "W"}


# ----------------------------------------------------------------------------------------------
# helpers reading the real files in place


def crosswalk_rows(fixtures_dir: Path) -> list[dict[str, str]]:
    """The rows of the crosswalk table in SOURCES.md §5, keyed by column header."""
    text = (fixtures_dir / "SOURCES.md").read_text()
    section = text.split("## 5. Team crosswalk", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:  # skip the header and the |---| rule
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


@pytest.fixture(scope="module")
def crosswalk(fixtures_dir: Path) -> list[dict[str, str]]:
    rows = crosswalk_rows(fixtures_dir)
    assert len(rows) == 30
    return rows


def statsapi_teams(fixtures_dir: Path) -> list[dict]:
    payload = json.loads((fixtures_dir / "mlb_statsapi" / "teams_sportId1.json").read_text())
    return payload["teams"]


def retrosheet_rows(data_dir: Path, name: str) -> list[list[str]]:
    with (data_dir / "retrosheet" / name).open(newline="") as handle:
        return list(csv.reader(handle))


# ----------------------------------------------------------------------------------------------
# MLB Stats API


def test_every_statsapi_team_resolves_by_id_abbreviation_and_name(fixtures_dir: Path) -> None:
    teams = statsapi_teams(fixtures_dir)
    assert {team["id"] for team in teams} == ALL_MLB_IDS
    for team in teams:
        by_id = by_mlb_id(team["id"])
        assert by_id.abbr == team["abbreviation"]
        assert by_id.name == team["name"]
        assert resolve(TeamSource.MLB, team["abbreviation"]).mlb_id == team["id"]
        assert resolve(TeamSource.NAME, team["name"]).mlb_id == team["id"]
        # The Stats API teamCode is the Retrosheet-style code (ana, chn, lan, ...).
        assert resolve(TeamSource.RETROSHEET, team["teamCode"]).mlb_id == team["id"]


def test_leagues_and_divisions_match_the_statsapi(fixtures_dir: Path) -> None:
    for team in statsapi_teams(fixtures_dir):
        ours = by_mlb_id(team["id"])
        league, division = team["division"]["name"].rsplit(" ", 1)
        assert team["league"]["name"] == league
        assert ours.league == {"American League": "AL", "National League": "NL"}[league], team["name"]
        assert ours.division == DIVISION_LETTER[division.upper()], team["name"]


def test_the_crosswalk_table_agrees_with_teams_py(crosswalk: list[dict[str, str]]) -> None:
    for row in crosswalk:
        team = by_mlb_id(int(row["MLB id"]))
        assert team.abbr == row["MLB abbr"].split()[0]
        assert team.name == row["MLB name"]
        assert team.action_network_id == int(row["AN id"])
        assert team.url_slug == row["AN url_slug"]


# ----------------------------------------------------------------------------------------------
# Action Network


def test_every_action_network_id_and_abbr_maps_to_the_crosswalk_mlb_id(
    fixtures_dir: Path, crosswalk: list[dict[str, str]]
) -> None:
    expected_by_an_id = {int(row["AN id"]): int(row["MLB id"]) for row in crosswalk}
    expected_by_abbr = {row["AN abbr"]: int(row["MLB id"]) for row in crosswalk}
    path = fixtures_dir / "action_network" / "v2_scoreboard_proreport_mlb_teams_extract_2025-07-01.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30
    for number, row in enumerate(rows, start=2):
        where = f"{path.name} line {number}"
        expected = expected_by_an_id[int(row["id"])]
        assert by_action_network_id(int(row["id"]), where=where).mlb_id == expected, where
        assert resolve(TeamSource.ACTION_NETWORK, row["abbr"], where=where).mlb_id == expected, where
        assert expected_by_abbr[row["abbr"]] == expected, where
        team = by_mlb_id(expected)
        assert resolve(TeamSource.NAME, row["full_name"]).mlb_id == expected, where
        assert team.url_slug == row["url_slug"], where
        assert team.league == row["conference_type"], where
        assert team.division == DIVISION_LETTER[row["division_type"]], where
    assert {int(row["id"]) for row in rows} == set(expected_by_an_id)


# ----------------------------------------------------------------------------------------------
# SBD: srfeeds codes and Sportradar abbreviations


def test_every_sbd_srfeeds_code_resolves_to_the_crosswalk_and_to_its_own_name(
    fixtures_dir: Path, crosswalk: list[dict[str, str]]
) -> None:
    expected_by_code = {row["SBD-srfeeds code"]: int(row["MLB id"]) for row in crosswalk}
    path = fixtures_dir / "sbd" / "srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json"
    games = json.loads(path.read_text())["games"]
    seen = set()
    for number, game in enumerate(games):
        for side in ("home", "away"):
            club = game[side]
            where = f"{path.name} games[{number}].{side}"
            team = resolve(TeamSource.SBD, club["code"], where=where)
            assert team.mlb_id == expected_by_code[club["code"]], where
            # The same record spells the club out: "Cleveland" + "Indians", "Oakland" + "Athletics".
            assert resolve(TeamSource.NAME, f"{club['city']} {club['team']}").mlb_id == team.mlb_id, where
            seen.add(team.mlb_id)
    assert seen == ALL_MLB_IDS  # the 15-game slate covers every club once


def test_every_sportradar_abbreviation_resolves(fixtures_dir: Path) -> None:
    paths = sorted((fixtures_dir / "sbd").glob("wp-json_adpt_v1_mlb-odds_*.json"))
    assert paths
    checked = 0
    for path in paths:
        for capture in json.loads(path.read_text()):
            for number, game in enumerate(capture["body"]["data"]):
                for side in ("home", "away"):
                    club = game["competitors"][side]
                    where = f"{path.name} data[{number}].competitors.{side}"
                    by_name = resolve(TeamSource.NAME, f"{club['market']} {club['name']}")
                    for field in ("abbreviation", "abbr"):
                        assert resolve(TeamSource.SBD, club[field], where=where) == by_name, where
                        checked += 1
    assert checked >= 4


# ----------------------------------------------------------------------------------------------
# historical files


def test_every_sbro_team_code_resolves_and_each_season_has_thirty_clubs(data_dir: Path) -> None:
    paths = sorted((data_dir / "sbr").glob("mlb_odds_sbr_*.csv"))
    assert len(paths) == 11
    lookup = codes(TeamSource.SBRO)
    for path in paths:
        team_codes = pl.read_csv(path, columns=["Team"], infer_schema_length=0)["Team"].unique()
        resolved = {code: resolve(TeamSource.SBRO, code, where=path.name).mlb_id for code in team_codes}
        # Aliases (LOS/LAD, CUB/CHC, ...) may share a club, but no two clubs may share a code.
        assert set(resolved.values()) == ALL_MLB_IDS, path.name
        # The vectorised join table gives the same answer as resolve.
        joined = team_codes.str.to_uppercase().replace_strict(lookup, default=None, return_dtype=pl.Int64)
        assert joined.null_count() == 0, path.name
        assert dict(zip(team_codes, joined, strict=True)) == resolved, path.name


@pytest.mark.parametrize("name", ["GL2015.TXT", "GL2019.TXT"])
def test_every_retrosheet_team_code_resolves_to_a_club_of_its_league(data_dir: Path, name: str) -> None:
    rows = retrosheet_rows(data_dir, name)
    assert len(rows) == 2429
    clubs: set[int] = set()
    # Fields 4-5 and 7-8 (1-based) are the visitor's and the home club's code and league.
    for number, row in enumerate(rows, start=1):
        for code_field, league_field in ((3, 4), (6, 7)):
            where = f"{name} line {number} field {code_field + 1}"
            team = resolve(TeamSource.RETROSHEET, row[code_field], where=where)
            assert team.league == row[league_field], where
            clubs.add(team.mlb_id)
    assert clubs == ALL_MLB_IDS


def test_every_pinnacle_name_resolves_except_the_all_star_leagues(data_dir: Path) -> None:
    games = pl.read_csv(data_dir / "pinnacle_2016" / "pinnacle_mlb2016_games.csv", infer_schema_length=0)
    names = set(games["away_team"]) | set(games["home_team"])
    all_star = {"American League", "National League"}
    assert all_star <= names
    clubs = {
        resolve(TeamSource.PINNACLE, name, where="pinnacle_mlb2016_games.csv").mlb_id
        for name in names - all_star
    }
    assert clubs == ALL_MLB_IDS
    for name in all_star:
        with pytest.raises(UnknownTeamError):
            resolve(TeamSource.PINNACLE, name)


# ----------------------------------------------------------------------------------------------
# the aliases the data notes call out


@pytest.mark.parametrize(
    ("source", "code", "mlb_id"),
    [
        ("sbro", "LOS", 119),
        ("sbro", "LAD", 119),
        ("sbro", "CUB", 112),
        ("sbro", "CHC", 112),
        ("sbro", "SFO", 137),
        ("sbro", "SFG", 137),
        ("sbro", "BOS", 111),
        ("sbro", "BRS", 111),
        ("sbro", "KAN", 118),
        ("sbro", "SDG", 135),
        ("sbro", "TAM", 139),
        ("sbro", "WAS", 120),
        ("sbro", "MIA", 146),
        ("sbro", "CWS", 145),
        ("sbro", "OAK", 133),
        ("retrosheet", "FLO", 146),
        ("retrosheet", "MIA", 146),
        ("retrosheet", "ANA", 108),
        ("retrosheet", "WAS", 120),
        ("retrosheet", "LAN", 119),
        ("retrosheet", "OAK", 133),
        ("mlb", "AZ", 109),
        ("mlb", "ARI", 109),
        ("mlb", "ATH", 133),
        ("mlb", "OAK", 133),
        ("mlb", "WSH", 120),
        ("action_network", "ARI", 109),
        ("action_network", "ATH", 133),
        ("action_network", "WSH", 120),
        ("sbd", "ARI", 109),
        ("sbd", "OAK", 133),
        ("sbd", "WAS", 120),
        ("sbd", "WSH", 120),
        ("sbd", "CHW", 145),
        ("name", "Florida Marlins", 146),
        ("name", "Anaheim Angels", 108),
        ("name", "Los Angeles Angels of Anaheim", 108),
        ("name", "Oakland Athletics", 133),
        ("name", "Cleveland Indians", 114),
        ("pinnacle", "Cleveland Indians", 114),
        ("vsin", "st-louis-cardinals", 138),
    ],
)
def test_called_out_aliases_map_to_the_right_franchise(source: str, code: str, mlb_id: int) -> None:
    assert resolve(source, code).mlb_id == mlb_id


def test_case_and_spacing_are_ignored() -> None:
    assert resolve("sbro", " los ").mlb_id == 119
    assert resolve("pinnacle", "los angeles   DODGERS").mlb_id == 119


def test_codes_do_not_leak_between_vocabularies() -> None:
    # SBRO writes codes, never names; Retrosheet's LAN is not an SBRO code.
    for source, code in [("sbro", "Los Angeles Dodgers"), ("sbro", "LAN"), ("retrosheet", "LOS")]:
        with pytest.raises(UnknownTeamError):
            resolve(source, code)


# ----------------------------------------------------------------------------------------------
# errors


def test_unknown_code_names_source_code_and_where() -> None:
    with pytest.raises(UnknownTeamError) as caught:
        resolve("sbro", "XYZ", where="mlb_odds_sbr_2015.csv row 12")
    message = str(caught.value)
    assert "sbro" in message
    assert "'XYZ'" in message
    assert "mlb_odds_sbr_2015.csv row 12" in message
    assert (caught.value.source, caught.value.code, caught.value.where) == (
        "sbro",
        "XYZ",
        "mlb_odds_sbr_2015.csv row 12",
    )


@pytest.mark.parametrize("code", [None, float("nan"), 119, ""])
def test_a_code_that_is_not_a_team_string_is_an_unknown_team(code: object) -> None:
    with pytest.raises(UnknownTeamError, match=re.escape("line 7")):
        resolve("retrosheet", code, where="GL2015.TXT line 7")  # type: ignore[arg-type]


def test_unknown_ids_and_sources_are_refused() -> None:
    with pytest.raises(UnknownTeamError, match=r"action_network.*186.*page 3"):
        by_action_network_id(186, where="page 3")
    with pytest.raises(UnknownTeamError, match="mlb"):
        by_mlb_id(999)
    with pytest.raises(ValueError, match="espn"):
        resolve("espn", "LAD")


def test_each_vocabulary_names_every_club_and_no_code_names_two() -> None:
    for source in TeamSource:
        table = codes(source)
        assert set(table.values()) == ALL_MLB_IDS, source
        for code, mlb_id in table.items():
            assert resolve(source, code).mlb_id == mlb_id
