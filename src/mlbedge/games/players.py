"""One player identity, the Retrosheet id: SBRO's listed starters (``CSABATHIA``) resolved to it.

SBRO lists each side's starting pitcher as a truncated, upper-case ``initial + surname`` (sometimes
the surname alone, sometimes abbreviated: ``FHERNANDZ``, ``RWLND-SMTH``), with the throwing hand
split off by the SBRO loader. That is the starter known when the opening line was made. It is
resolved in two steps (``shared/data/mlb/SOURCES.md`` §7):

1. ``game_starter``: the game log's starter of the same game and side is the listed one when the
   SBRO letters are a prefix of his first initial + surname, or of his surname alone, or else share
   his first letter and appear in his name in order (an abbreviation).
2. ``team_season``: otherwise (an opener, a late scratch, or no game log) the pitchers of the same
   team and season in Lahman (People by name within Pitching's team-season) are searched the same
   way; a prefix match wins over an abbreviation, the listed hand breaks ties, and only a single
   remaining candidate is accepted.

Anything else ("UNDECIDED", blank, ambiguous) stays unresolved and is listed by the link report.
The team-season roster is a season-level fact used only to name the listed pitcher, who by being
listed was on that team; it reveals nothing about the game's outcome.
"""

from __future__ import annotations

import polars as pl
import psycopg

from mlbedge.domain import teams
from mlbedge.storage.database import fetch_frame

# The roster frame: one row per Retrosheet id, season and team (MLB id), with name and hand.
ROSTER_SCHEMA: dict[str, pl.DataType] = {
    "retro_id": pl.String(),
    "season": pl.Int32(),
    "team_id": pl.Int64(),
    "name_first": pl.String(),
    "name_last": pl.String(),
    "throws": pl.String(),
}
# The players frame: one row per Retrosheet id with Lahman's name (for the game-starter step).
PEOPLE_SCHEMA: dict[str, pl.DataType] = {
    "retro_id": pl.String(),
    "name_first": pl.String(),
    "name_last": pl.String(),
    "throws": pl.String(),
}

_SUFFIXES = r"\s+(JR|SR|II|III|IV)\.?$"


def letters(text: pl.Expr) -> pl.Expr:
    """Upper case, letters only: ``"rwlnd-smth"`` -> ``"RWLNDSMTH"``."""
    return text.str.to_uppercase().str.replace_all(r"[^A-Z]", "")


def gamelog_names(full_name: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A game log's ``"Lance McCullers Jr."`` as (first, last): ``("Lance", "McCullers")``."""
    parts = full_name.str.replace(_SUFFIXES, "").str.split(" ")
    return parts.list.first(), parts.list.last()


def listed_key(listed: pl.Expr) -> pl.Expr:
    """SBRO's text as letters: the ``-L``/``-R`` hand and a ``JR`` suffix dropped (``LMCCULLERSJR.``)."""
    text = listed.str.to_uppercase().str.strip_chars().str.replace(r"-[LR]$", "")
    return letters(text.str.replace(r"^([A-Z .]{3,}?)\s*(?:JR|SR)\.?$", "$1"))


def is_prefix(listed: pl.Expr, key: pl.Expr) -> pl.Expr:
    """The SBRO letters start ``key`` (initial + surname) or its surname alone."""
    return (key.str.starts_with(listed) | key.str.slice(1).str.starts_with(listed)).fill_null(False)


def is_abbreviation(listed: pl.Expr, key: pl.Expr) -> pl.Expr:
    """Same first letter, and every SBRO letter appears in ``key`` in order (``FHERNANDZ``)."""
    pattern = pl.lit("^") + listed.str.split("").list.join(".*")
    same_first = listed.str.slice(0, 1) == key.str.slice(0, 1)
    return (same_first & key.str.contains(pattern)).fill_null(False)


def match_names(frame: pl.DataFrame, listed: str, first: str, last: str, out: str) -> pl.DataFrame:
    """``frame`` with ``{out}_prefix`` and ``{out}_abbrev``: how SBRO's letters match a name.

    A prefix of initial + surname (``CSABATHIA``) or of the surname (``WAINWRIGHT``); else an
    abbreviation, letters in order with the same first letter, of initial + surname, of the surname
    (``SYNDERGARD``) or of the whole first name + surname (``JERWEAVER``, ``JJREYES``). The
    abbreviation is a regular expression per row, so it is tried only on the rows (a few percent)
    no prefix matched.
    """
    lst = pl.col(listed)
    keys = frame.with_row_index("_m").with_columns(
        _initial=letters(pl.col(first)).str.slice(0, 1) + letters(pl.col(last)),
        _surname=letters(pl.col(last)),
        _whole=letters(pl.col(first)) + letters(pl.col(last)),
        _long=lst.str.len_chars() >= 3,
    )
    keys = keys.with_columns((pl.col("_long") & is_prefix(lst, pl.col("_initial"))).alias(f"{out}_prefix"))
    maybe = keys.filter(
        ~pl.col(f"{out}_prefix")
        & pl.col("_long")
        & (
            (lst.str.slice(0, 1) == pl.col("_initial").str.slice(0, 1))
            | (lst.str.slice(0, 1) == pl.col("_surname").str.slice(0, 1))
        ).fill_null(False)
    )
    abbreviation = maybe.select(
        "_m",
        (
            is_abbreviation(lst, pl.col("_initial"))
            | is_abbreviation(lst, pl.col("_surname"))
            | is_abbreviation(lst, pl.col("_whole"))
        ).alias(f"{out}_abbrev"),
    )
    return (
        keys.join(abbreviation, on="_m", how="left")
        .with_columns(pl.col(f"{out}_abbrev").fill_null(False))
        .drop("_m", "_initial", "_surname", "_whole", "_long")
    )


def resolve_listed_starters(
    slots: pl.DataFrame,
    people: pl.DataFrame | None = None,
    roster: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Resolve listed starters to Retrosheet ids. Pure: no database.

    ``slots`` has one row per game side: ``slot`` (any unique key), ``season``, ``team_id``,
    ``listed`` (SBRO's pitcher text), ``listed_hand``, ``starter_id`` and ``starter_name`` (the
    game log's actual starter, null without a game log). Returns ``slot``, ``listed_id`` and
    ``via`` (``game_starter``, ``team_season`` or null when unresolved).
    """
    people = pl.DataFrame(schema=PEOPLE_SCHEMA) if people is None else people
    roster = pl.DataFrame(schema=ROSTER_SCHEMA) if roster is None else roster
    slots = slots.with_columns(_listed=listed_key(pl.col("listed").fill_null("")))
    # Step 1: the game's own starter, by Lahman's name where known and the game log's otherwise.
    with_names = slots.join(
        people.select("retro_id", _first="name_first", _last="name_last"),
        left_on="starter_id",
        right_on="retro_id",
        how="left",
    )
    first_name, last_name = gamelog_names(pl.col("starter_name"))
    with_names = with_names.with_columns(_log_first=first_name, _log_last=last_name)
    with_names = match_names(with_names, "_listed", "_first", "_last", "_people")
    with_names = match_names(with_names, "_listed", "_log_first", "_log_last", "_log")
    starter = pl.col("starter_id").is_not_null() & pl.any_horizontal(
        "_people_prefix", "_people_abbrev", "_log_prefix", "_log_abbrev"
    )
    first = with_names.with_columns(
        listed_id=pl.when(starter).then(pl.col("starter_id")),
        via=pl.when(starter).then(pl.lit("game_starter")),
    )
    # Step 2: the team-season roster for the rest.
    rest = first.filter(pl.col("listed_id").is_null() & (pl.col("_listed").str.len_chars() >= 3))
    candidates = rest.select("slot", "season", "team_id", "_listed", "listed_hand").join(
        roster.select(
            pl.col("season").cast(pl.Int32),
            pl.col("team_id").cast(pl.Int64),
            "retro_id",
            "name_first",
            "name_last",
            "throws",
        ),
        on=["season", "team_id"],
    )
    candidates = match_names(candidates, "_listed", "name_first", "name_last", "")
    candidates = candidates.with_columns(
        _hand=(pl.col("throws") == pl.col("listed_hand")).fill_null(False),
    ).filter(pl.col("_prefix") | pl.col("_abbrev"))
    # The best kind of match only (prefix over abbreviation), then the listed hand among those.
    candidates = candidates.filter(pl.col("_prefix") == pl.col("_prefix").max().over("slot"))
    candidates = candidates.filter(pl.col("_hand") == pl.col("_hand").max().over("slot")).unique(
        subset=["slot", "retro_id"]
    )
    single = (
        candidates.group_by("slot")
        .agg(pl.col("retro_id").first().alias("_roster_id"), pl.len().alias("_n"))
        .filter(pl.col("_n") == 1)
        .select("slot", "_roster_id")
    )
    out = first.join(single, on="slot", how="left").with_columns(
        via=pl.when(pl.col("listed_id").is_null() & pl.col("_roster_id").is_not_null())
        .then(pl.lit("team_season"))
        .otherwise(pl.col("via")),
        listed_id=pl.coalesce("listed_id", "_roster_id"),
    )
    return out.select("slot", "listed_id", "via")


def load_people(conn: psycopg.Connection) -> pl.DataFrame:
    """Lahman People with a Retrosheet id (empty when Lahman is not loaded)."""
    frame = fetch_frame(
        conn,
        "SELECT retro_id, name_first, name_last, throws FROM staging.lahman_people WHERE retro_id IS NOT NULL",
    )
    return pl.DataFrame(schema=PEOPLE_SCHEMA) if frame.is_empty() else frame.cast(PEOPLE_SCHEMA)  # type: ignore[arg-type]


def load_roster(conn: psycopg.Connection) -> pl.DataFrame:
    """Pitchers per team and season from Lahman (Pitching x People x Teams' Retrosheet code)."""
    frame = fetch_frame(
        conn,
        """SELECT DISTINCT p.retro_id, s.year_id AS season, t.team_id_retro, p.name_first, p.name_last,
                  p.throws
           FROM staging.lahman_pitching s
           JOIN staging.lahman_people p ON p.player_id = s.player_id
           JOIN staging.lahman_teams t ON t.year_id = s.year_id AND t.team_id = s.team_id
           WHERE p.retro_id IS NOT NULL""",
    )
    if frame.is_empty():
        return pl.DataFrame(schema=ROSTER_SCHEMA)
    codes = teams.codes("retrosheet")
    return frame.with_columns(
        team_id=pl.col("team_id_retro")
        .str.to_uppercase()
        .replace_strict(codes, default=None, return_dtype=pl.Int64)
    ).select(pl.col(name).cast(dtype) for name, dtype in ROSTER_SCHEMA.items())
