"""Chadwick's retrosplits files into ``staging.retrosplits_*``; the kind of file is told by its header.

- ``teams-YYYY.csv`` (header starts ``game.key,game.source``): one row per team, game and source
  (``evt`` event file, ``box`` box score) with post-game totals. Kept as one row per game and team
  in ``staging.retrosplits_team_games``: the ``box`` totals (official) where the game has a box
  score (every regular-season game), else the ``evt`` ones (postseason, All-Star); ``b_pa``,
  ``b_hr4``, ``p_pitch`` and ``p_strike`` come from the ``evt`` row when it has them, because
  box scores lack pitch counts. ``totals_source`` says which row the totals came from.
- ``pitching-platoon-YYYY.csv`` (header has ``RESP_PIT_ID``): each pitcher's season split by his
  and the batter's hand, per phase, into ``staging.retrosplits_pitching_platoon``.

Stat columns keep retrosplits' names in lower case (``P_PITCH`` -> ``p_pitch``). Every row is a
post-game (team games) or season (platoon) total: see ``shared/data/mlb/SOURCES.md`` §8 for when
each is known. Bad rows are quarantined with a reason; a team other than the All-Star teams
(``ALS``/``NLS``) must be a known Retrosheet code.

Chadwick Baseball Bureau, retrosplits (ODbL 1.0).

    The information used here was obtained free of
    charge from and is copyrighted by Retrosheet.  Interested
    parties may contact Retrosheet at "www.retrosheet.org".
"""

from __future__ import annotations

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
    load_each,
    outside_season,
    season_in_name,
    store_raw_file,
    write_parsed,
)
from mlbedge.sources.historical.tabular import Column, CsvSpec, dedupe, header_of, split, typed_rows

SOURCE = "retrosplits"
TEAM_TABLE = "staging.retrosplits_team_games"
PLATOON_TABLE = "staging.retrosplits_pitching_platoon"

TEAM_STATS: tuple[str, ...] = tuple(
    [
        "R_G",
        "R_W",
        "R_L",
        "R_T",
        "B_G",
        "B_PA",
        "B_AB",
        "B_R",
        "B_H",
        "B_TB",
        "B_2B",
        "B_3B",
        "B_HR",
        "B_HR4",
        "B_RBI",
        "B_GW",
        "B_BB",
        "B_IBB",
        "B_SO",
        "B_GDP",
        "B_HP",
        "B_SH",
        "B_SF",
        "B_SB",
        "B_CS",
        "B_XI",
        "B_LOB",
        "P_G",
        "P_GS",
        "P_CG",
        "P_SHO",
        "P_CSHO",
        "P_GF",
        "P_W",
        "P_L",
        "P_SV",
        "P_OUT",
        "P_TBF",
        "P_AB",
        "P_R",
        "P_ER",
        "P_H",
        "P_TB",
        "P_2B",
        "P_3B",
        "P_HR",
        "P_HR4",
        "P_BB",
        "P_IBB",
        "P_SO",
        "P_GDP",
        "P_HP",
        "P_SH",
        "P_SF",
        "P_XI",
        "P_WP",
        "P_BK",
        "P_IR",
        "P_IRS",
        "P_GO",
        "P_AO",
        "P_PITCH",
        "P_STRIKE",
        "F_G",
        "F_OUT",
        "F_TC",
        "F_PO",
        "F_A",
        "F_E",
        "F_DP",
        "F_TP",
        "F_PB",
    ]
)
PLATOON_STATS: tuple[str, ...] = tuple(
    [
        "B_PA",
        "B_AB",
        "B_H",
        "B_TB",
        "B_2B",
        "B_3B",
        "B_HR",
        "B_HR4",
        "B_RBI",
        "B_BB",
        "B_IBB",
        "B_SO",
        "B_GDP",
        "B_HP",
        "B_SH",
        "B_SF",
        "B_XI",
    ]
)
# Columns the box score lacks (or leaves at 0: inherited runners): taken from the event file's row.
FROM_EVENTS: tuple[str, ...] = ("b_pa", "b_hr4", "p_pitch", "p_strike", "p_ir", "p_irs")
ALL_STAR_TEAMS = ("ALS", "NLS")

TEAM_ROWS = CsvSpec(
    "retrosplits teams file",
    (
        Column("game.key", "game_key", "text", True),
        Column("game.source", "game_source", "text", True),
        Column("game.date", "game_date", "date", True),
        Column("game.number", "game_number", "int", True),
        Column("site.key", "site_key", "text"),
        Column("season.phase", "season_phase", "text", True),
        Column("team.alignment", "team_alignment", "int", True),
        Column("team.key", "team_key", "text", True),
        Column("opponent.key", "opponent_key", "text", True),
        *(Column(stat, stat.lower()) for stat in TEAM_STATS),
    ),
    ("game_key", "game_source", "team_key"),
)
PLATOON = CsvSpec(
    "retrosplits pitching-platoon file",
    (
        Column("YEAR", "season", "int", True),
        Column("PHASE", "phase", "text", True),
        Column("RESP_PIT_ID", "pitcher_id", "text", True),
        Column("RESP_PIT_HAND_CD", "pitcher_hand", "text", True),
        Column("RESP_BAT_HAND_CD", "batter_hand", "text", True),
        *(Column(stat, stat.lower()) for stat in PLATOON_STATS),
    ),
    ("season", "phase", "pitcher_id", "pitcher_hand", "batter_hand"),
)

# staging.retrosplits_team_games columns with their Polars types.
TEAM_GAME_SCHEMA: dict[str, pl.DataType] = {
    "game_key": pl.String(),
    "team_key": pl.String(),
    "season": pl.Int32(),
    "game_date": pl.Date(),
    "game_number": pl.Int16(),
    "site_key": pl.String(),
    "season_phase": pl.String(),
    "team_alignment": pl.Int16(),
    "opponent_key": pl.String(),
    "team_id": pl.Int32(),
    "opponent_id": pl.Int32(),
    "totals_source": pl.String(),
    **{stat.lower(): pl.Int32() for stat in TEAM_STATS},
    "file_sha256": pl.String(),
    "file_row": pl.Int32(),
}


def file_kind(raw: RawFile) -> str:
    """``"teams"`` or ``"platoon"`` by the header; :class:`DataFileError` when it is neither."""
    header = header_of(raw)
    if "game.key" in header and "game.source" in header:
        return "teams"
    if "RESP_PIT_ID" in header:
        return "platoon"
    raise DataFileError(
        raw.path,
        "the header is neither a retrosplits teams file (game.key, game.source, ...) nor a "
        "pitching-platoon file (YEAR, PHASE, RESP_PIT_ID, ...)",
        row=0,  # row 0 is the header, as in the other loaders
    )


def parse_team_games(raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One teams file as ``(team_games, quarantined)``: one row per game and team (see module doc)."""
    codes = teams.codes("retrosheet")
    season = season_in_name(raw.name)
    typed = typed_rows(raw, TEAM_ROWS).with_columns(
        team_id=pl.col("team_key")
        .str.to_uppercase()
        .replace_strict(codes, default=None, return_dtype=pl.Int32),
        opponent_id=pl.col("opponent_key")
        .str.to_uppercase()
        .replace_strict(codes, default=None, return_dtype=pl.Int32),
    )
    all_star = pl.col("season_phase") == "A"
    checks = [
        pl.when(pl.col("game_source").is_in(["box", "evt"]).not_())
        .then(pl.format("game.source '{}' is not box or evt", pl.col("game_source"))),
        pl.when(pl.col("team_alignment").is_in([0, 1]).not_())
        .then(pl.format("team.alignment '{}' is not 0 or 1", pl.col("team_alignment"))),
        pl.when(pl.col("team_id").is_null() & ~all_star)
        .then(pl.format("team.key '{}' is not a known retrosheet team code", pl.col("team_key"))),
        pl.when(pl.col("opponent_id").is_null() & ~all_star)
        .then(pl.format("opponent.key '{}' is not a known retrosheet team code", pl.col("opponent_key"))),
        pl.when(outside_season(pl.col("game_date"), season))
        .then(pl.format(f"game.date '{{}}' is not in the file's season {season}", pl.col("game_date"))),
    ]  # fmt: skip
    extra = pl.concat_str(checks, separator="; ", ignore_nulls=True)
    typed = typed.with_columns(
        reason=pl.when(pl.col("reason").is_null() & (extra != "")).then(extra).otherwise(pl.col("reason"))
    )
    typed = dedupe(typed, list(TEAM_ROWS.key), "game.key, game.source and team.key")
    spec_frame, quarantined = split(typed, TEAM_ROWS, raw)
    good = spec_frame.join(
        typed.filter(pl.col("reason").is_null()).select(
            pl.col("row_number").alias("file_row"), "team_id", "opponent_id"
        ),
        on="file_row",
    )
    return _one_row_per_team_game(good), quarantined


def _one_row_per_team_game(rows: pl.DataFrame) -> pl.DataFrame:
    """Box-score totals where there are any, else the event file's; pitch counts from the events."""
    key = ["game_key", "team_key"]
    events = rows.filter(pl.col("game_source") == "evt").select(
        *key, *(pl.col(c).alias(f"_evt_{c}") for c in FROM_EVENTS)
    )
    box = rows.filter(pl.col("game_source") == "box")
    only_events = rows.filter(pl.col("game_source") == "evt").join(box.select(key), on=key, how="anti")
    chosen = pl.concat([box, only_events]).join(events, on=key, how="left")
    chosen = chosen.with_columns(
        *(pl.coalesce(f"_evt_{c}", c).alias(c) for c in FROM_EVENTS),
        totals_source=pl.col("game_source"),
        season=pl.col("game_date").dt.year(),
    )
    return chosen.select(pl.col(name).cast(dtype) for name, dtype in TEAM_GAME_SCHEMA.items()).sort(
        "game_date", "game_key", "team_alignment"
    )


def parse_platoon(raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One pitching-platoon file as ``(splits, quarantined)``."""
    season = season_in_name(raw.name)
    typed = typed_rows(raw, PLATOON)
    hands = ["L", "R", "B", "?"]
    checks = [
        pl.when(~pl.col("pitcher_hand").is_in(hands))
        .then(pl.format("RESP_PIT_HAND_CD '{}' is not a hand", pl.col("pitcher_hand"))),
        pl.when(~pl.col("batter_hand").is_in(hands))
        .then(pl.format("RESP_BAT_HAND_CD '{}' is not a hand", pl.col("batter_hand"))),
        pl.when(pl.lit(season is not None) & (pl.col("season") != season).fill_null(False))
        .then(pl.format(f"YEAR '{{}}' is not the file's season {season}", pl.col("season"))),
    ]  # fmt: skip
    extra = pl.concat_str(checks, separator="; ", ignore_nulls=True)
    typed = typed.with_columns(
        reason=pl.when(pl.col("reason").is_null() & (extra != "")).then(extra).otherwise(pl.col("reason"))
    )
    typed = dedupe(typed, list(PLATOON.key), "year, phase, pitcher and hands")
    return split(typed, PLATOON, raw)


def load_retrosplits_files(
    conn: psycopg.Connection,
    paths: Iterable[str | Path],
    *,
    progress: Progress | None = None,
) -> list[LoadSummary]:
    """Load retrosplits teams and pitching-platoon files (told apart by header); the caller commits.

    Raw bytes go to ``raw.files`` first, bad rows to ``staging.quarantine``; idempotent. Each
    file loads in its own transaction: one that fails is reported in its summary, the others load.
    """
    return load_each(
        paths, "retrosplits", lambda path: _load_file(conn, path), progress, conn=conn, source=SOURCE
    )


def _load_file(conn: psycopg.Connection, path: Path) -> LoadSummary:
    raw = RawFile.read(path)
    kind = file_kind(raw)
    store_raw_file(conn, SOURCE, raw)
    if kind == "teams":
        records, bad = parse_team_games(raw)
        table, key = TEAM_TABLE, ["game_key", "team_key"]
        # Two source rows make one record: rows read are counted from the file.
        rows_read = int(raw.content.count(b"\n")) - 1 + (0 if raw.content.endswith(b"\n") else 1)
    else:
        records, bad = parse_platoon(raw)
        table, key = PLATOON_TABLE, list(PLATOON.key)
        rows_read = records.height + bad.height
    return write_parsed(
        conn, SOURCE, raw, table=table, frame=records, key=key, quarantined=bad, rows_read=rows_read
    )
