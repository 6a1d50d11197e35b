"""SBRO's listed starters resolved to Retrosheet ids: the rules on small cases, the rate on the real files."""

from __future__ import annotations

import datetime as dt

import polars as pl
import psycopg
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.games.players import ROSTER_SCHEMA, resolve_listed_starters
from mlbedge.storage.database import fetch_frame

SLOT_SCHEMA = {
    "slot": pl.String, "season": pl.Int32, "team_id": pl.Int64, "listed": pl.String,
    "listed_hand": pl.String, "starter_id": pl.String, "starter_name": pl.String,
}  # fmt: skip
PEOPLE = pl.DataFrame(
    {
        "retro_id": ["sabac001", "hernf002", "weavj003", "weavj001", "syndn001", "mccul002"],
        "name_first": ["CC", "Felix", "Jered", "Jeff", "Noah", "Lance"],
        "name_last": ["Sabathia", "Hernandez", "Weaver", "Weaver", "Syndergaard", "McCullers"],
        "throws": ["L", "R", "R", "R", "R", "R"],
    }
)


def _slots(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SLOT_SCHEMA, orient="row")


def _resolve(rows: list[tuple], roster: pl.DataFrame | None = None) -> dict[str, tuple]:
    out = resolve_listed_starters(_slots(rows), PEOPLE, roster)
    return {r["slot"]: (r["listed_id"], r["via"]) for r in out.iter_rows(named=True)}


def test_the_games_own_starter_by_prefix_abbreviation_hand_suffix_and_junior() -> None:
    got = _resolve(
        [
            ("a", 2015, 147, "CSABATHIA", "L", "sabac001", "CC Sabathia"),
            ("b", 2015, 136, "FHERNANDZ", "R", "hernf002", "Felix Hernandez"),
            ("c", 2015, 108, "JERWEAVER", "R", "weavj003", "Jered Weaver"),
            ("d", 2015, 121, "SYNDERGARD", "R", "syndn001", "Noah Syndergaard"),
            ("e", 2015, 117, "LMCCULLERSJR.", "R", "mccul002", "Lance McCullers Jr."),
            ("f", 2015, 147, "CSABATHIA-L", None, "sabac001", "CC Sabathia"),
            # Not in People (Lahman not loaded): the game log's own name is used.
            ("g", 2015, 147, "MTANAKA", "R", "tanam001", "Masahiro Tanaka"),
        ]
    )
    assert got == {
        "a": ("sabac001", "game_starter"),
        "b": ("hernf002", "game_starter"),
        "c": ("weavj003", "game_starter"),
        "d": ("syndn001", "game_starter"),
        "e": ("mccul002", "game_starter"),
        "f": ("sabac001", "game_starter"),
        "g": ("tanam001", "game_starter"),
    }


def test_a_different_starter_falls_back_to_the_team_season_and_ambiguity_stays_unresolved() -> None:
    roster = pl.DataFrame(
        [
            ("weavj003", 2015, 108, "Jered", "Weaver", "R"),
            ("weavj001", 2015, 108, "Jeff", "Weaver", "R"),
            ("sabac001", 2015, 147, "CC", "Sabathia", "L"),
            ("smitj001", 2015, 147, "Joe", "Smith", "R"),
            ("smitj002", 2015, 147, "Josh", "Smith", "L"),
        ],
        schema=ROSTER_SCHEMA,
        orient="row",
    )
    got = _resolve(
        [
            # A late scratch: the listed pitcher did not start; his team-season finds him.
            ("scratch", 2015, 147, "CSABATHIA", "L", "tanam001", "Masahiro Tanaka"),
            # "JWEAVER" is both Weavers: ambiguous, not guessed.
            ("both", 2015, 108, "JWEAVER", "R", "x", "Someone Else"),
            # Two J. Smiths, the listed hand tells them apart.
            ("hand", 2015, 147, "JSMITH", "L", None, None),
            ("undecided", 2015, 147, "UNDECIDED", None, None, None),
            ("blank", 2015, 147, None, None, "sabac001", "CC Sabathia"),
            # The roster is per season: Sabathia is not on the 2016 list given here.
            ("other_season", 2016, 147, "CSABATHIA", "L", None, None),
        ],
        roster,
    )
    assert got == {
        "scratch": ("sabac001", "team_season"),
        "both": (None, None),
        "hand": ("smitj002", "team_season"),
        "undecided": (None, None),
        "blank": (None, None),
        "other_season": (None, None),
    }


def test_crosswalk_rate_on_the_real_files(loaded_db_url: str) -> None:
    with psycopg.connect(loaded_db_url) as conn:
        games = fetch_frame(
            conn,
            """SELECT game_id, home_starter_id, away_starter_id, home_listed_starter_id,
                      away_listed_starter_id, home_listed_starter_via, away_listed_starter_via
               FROM curated.games WHERE in_sbro AND in_retrosheet""",
        )
        unresolved = fetch_frame(
            conn, "SELECT * FROM curated.link_mismatches WHERE kind LIKE 'listed_starter_unresolved_%'"
        )
    slots = pl.concat(
        [
            games.select(
                "game_id",
                side=pl.lit(side),
                starter=f"{side}_starter_id",
                listed=f"{side}_listed_starter_id",
                via=f"{side}_listed_starter_via",
            )
            for side in ("home", "away")
        ]
    )
    assert slots.height == 50_310  # 25,155 games SBRO and Retrosheet both have (SOURCES.md: ~50,372)
    own = (slots["via"] == "game_starter").mean()
    resolved = slots["listed"].is_not_null().mean()
    assert own >= 0.991  # SOURCES.md §7: 99.1% of starter slots match the game's starter
    assert resolved >= 0.995
    # "game_starter" means exactly that; a team-season match names someone else (opener, scratch).
    by_own = slots.filter(pl.col("via") == "game_starter")
    assert (by_own["listed"] == by_own["starter"]).all()
    by_roster = slots.filter(pl.col("via") == "team_season")
    assert by_roster.height > 20 and (by_roster["listed"] != by_roster["starter"]).all()
    # Every unresolved non-blank listing is in the link report.
    reported = set(zip(unresolved["game_id"], unresolved["kind"].str.extract(r"_(home|away)$"), strict=True))
    missing = slots.filter(pl.col("listed").is_null())
    assert reported <= set(zip(missing["game_id"], missing["side"], strict=True))
    assert 0 < len(reported) <= missing.height


def test_completion_park_umpire_and_htbf_reach_the_games(loaded_db_url: str) -> None:
    with psycopg.connect(loaded_db_url) as conn:
        games = fetch_frame(
            conn,
            """SELECT game_id, completion_date, park_id, plate_umpire_id, htbf, in_retrosheet
               FROM curated.games WHERE season = 2019 OR season = 2020""",
        )
    by_id = {r["game_id"]: r for r in games.iter_rows(named=True)}
    assert by_id["20190519-ATH-DET-0"]["completion_date"] == dt.date(2019, 9, 6)
    assert by_id["20190807-KC-BOS-0"]["completion_date"] == dt.date(2019, 8, 22)
    retro = games.filter(pl.col("in_retrosheet"))
    assert retro["park_id"].null_count() == 0 and retro["plate_umpire_id"].null_count() == 0
    assert retro["htbf"].sum() == 28 and games.filter(~pl.col("in_retrosheet"))["htbf"].sum() == 0


def test_link_report_lists_unresolved_listings(loaded_db_url: str, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", loaded_db_url)
    result = CliRunner().invoke(app, ["data", "link-report", "--season", "2015", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "listed_starter_unresolved" in result.output
