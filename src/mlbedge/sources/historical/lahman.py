"""The Lahman Baseball Database's season tables into ``staging.lahman_*``.

A Lahman folder holds ``People.csv`` (one row per player, with ``retroID``: the Retrosheet id, the
one player identity mlbedge uses), ``Batting.csv`` and ``Pitching.csv`` (one row per player, season
and stint) and ``Teams.csv`` (one row per team and season, with ``BPF``/``PPF`` park factors and
``teamIDretro``). Any subset may be present. Column names become snake case (``playerID`` ->
``player_id``, ``IPouts`` -> ``ip_outs``, ``X2B`` -> ``x2b``); see ``shared/data/mlb/SOURCES.md``
§7. Every row is a season total: it is known only after that season's last game.

Lahman Baseball Database (Sean Lahman), via the R package Lahman 14.0-0; CC BY-SA 3.0.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from rich.progress import Progress

from mlbedge.sources.historical.common import (
    DataFileError,
    LoadSummary,
    RawFile,
    load_each,
    store_raw_file,
    write_parsed,
)
from mlbedge.sources.historical.tabular import Column, CsvSpec, Kind, parse_with_spec

SOURCE = "lahman"

_RENAMES = {
    "IPouts": "ip_outs", "BAOpp": "ba_opp", "Ghome": "g_home", "GIDP": "gidp", "WCWin": "wc_win",
    "WSWin": "ws_win",
}  # fmt: skip


def snake(header: str) -> str:
    """Lahman's camel-case header as a table column: ``teamIDretro`` -> ``team_id_retro``."""
    if header in _RENAMES:
        return _RENAMES[header]
    spaced = re.sub(r"ID", "_id_", header)
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", spaced)
    return re.sub(r"_+", "_", spaced).strip("_").lower()


def _columns(spec: str, required: set[str] = frozenset(), text: set[str] = frozenset()) -> tuple[Column, ...]:
    """Columns from a header list; ``text`` ones are text, ``float`` ones marked ``:f``."""
    out = []
    for item in spec.split(","):
        header, _, mark = item.partition(":")
        kind: Kind = (
            "float" if mark == "f" else "date" if mark == "d" else "text" if header in text else "int"
        )
        out.append(Column(header, snake(header), kind, header in required))
    return tuple(out)


PEOPLE = CsvSpec(
    "Lahman People.csv",
    _columns(
        "playerID,retroID,bbrefID,nameFirst,nameLast,nameGiven,birthYear,throws,bats,debut:d,finalGame:d",
        required={"playerID"},
        text={"playerID", "retroID", "bbrefID", "nameFirst", "nameLast", "nameGiven", "throws", "bats"},
    ),
    ("player_id",),
)
BATTING = CsvSpec(
    "Lahman Batting.csv",
    _columns(
        "playerID,yearID,stint,teamID,lgID,G,AB,R,H,X2B,X3B,HR,RBI,SB,CS,BB,SO,IBB,HBP,SH,SF,GIDP",
        required={"playerID", "yearID", "stint", "teamID"},
        text={"playerID", "teamID", "lgID"},
    ),
    ("player_id", "year_id", "stint"),
)
PITCHING = CsvSpec(
    "Lahman Pitching.csv",
    _columns(
        "playerID,yearID,stint,teamID,lgID,W,L,G,GS,CG,SHO,SV,IPouts,H,ER,HR,BB,SO,BAOpp:f,ERA:f,IBB,"
        "WP,HBP,BK,BFP,GF,R,SH,SF,GIDP",
        required={"playerID", "yearID", "stint", "teamID"},
        text={"playerID", "teamID", "lgID"},
    ),
    ("player_id", "year_id", "stint"),
)
TEAMS = CsvSpec(
    "Lahman Teams.csv",
    _columns(
        "yearID,lgID,teamID,franchID,divID,Rank,G,Ghome,W,L,DivWin,WCWin,LgWin,WSWin,R,AB,H,X2B,X3B,HR,"
        "BB,SO,SB,CS,HBP,SF,RA,ER,ERA:f,CG,SHO,SV,IPouts,HA,HRA,BBA,SOA,E,DP,FP:f,name,park,attendance,"
        "BPF,PPF,teamIDBR,teamIDlahman45,teamIDretro",
        required={"yearID", "teamID"},
        text={
            "lgID",
            "teamID",
            "franchID",
            "divID",
            "DivWin",
            "WCWin",
            "LgWin",
            "WSWin",
            "name",
            "park",
            "teamIDBR",
            "teamIDlahman45",
            "teamIDretro",
        },
    ),
    ("year_id", "team_id"),
)

# File name -> (spec, table). Loaded in this order.
FILES: dict[str, tuple[CsvSpec, str]] = {
    "People.csv": (PEOPLE, "staging.lahman_people"),
    "Teams.csv": (TEAMS, "staging.lahman_teams"),
    "Batting.csv": (BATTING, "staging.lahman_batting"),
    "Pitching.csv": (PITCHING, "staging.lahman_pitching"),
}


def lahman_files(directory: str | Path) -> list[Path]:
    """The Lahman files present in ``directory`` (any subset of :data:`FILES`), in load order."""
    directory = Path(directory)
    return [directory / name for name in FILES if (directory / name).is_file()]


def load_lahman(
    conn: psycopg.Connection,
    directory: str | Path,
    *,
    progress: Progress | None = None,
) -> list[LoadSummary]:
    """Load every Lahman file in ``directory`` into its ``staging.lahman_*`` table.

    Raw bytes go to ``raw.files`` first, bad rows to ``staging.quarantine``; idempotent. Raises
    :class:`DataFileError` when the folder holds none of People, Pitching, Batting, Teams.
    """
    paths = lahman_files(directory)
    if not paths:
        raise DataFileError(directory, f"no Lahman files here (expected any of {', '.join(FILES)})")
    return load_lahman_files(conn, paths, progress=progress)


def load_lahman_files(
    conn: psycopg.Connection,
    paths: list[Path],
    *,
    progress: Progress | None = None,
) -> list[LoadSummary]:
    """Load Lahman files named as in :data:`FILES` (``People.csv`` ...), each in its own transaction:
    a file that fails is reported in its summary and the others load."""
    return load_each(paths, "Lahman", lambda path: _load_file(conn, path), progress, conn=conn, source=SOURCE)


def _load_file(conn: psycopg.Connection, path: Path) -> LoadSummary:
    if path.name not in FILES:
        raise DataFileError(path, f"not a Lahman file this loader knows (expected one of {', '.join(FILES)})")
    spec, table = FILES[path.name]
    raw = RawFile.read(path)
    store_raw_file(conn, SOURCE, raw)
    records, bad = parse_with_spec(raw, spec)
    return write_parsed(
        conn, SOURCE, raw, table=table, frame=records, key=list(spec.key), quarantined=bad,
        rows_read=records.height + bad.height,
    )  # fmt: skip
