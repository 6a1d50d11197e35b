"""Link the per-source staging tables into ``curated.games`` and report how well they agree.

Each source describes the same game in its own way: SBRO (odds, every season), Retrosheet (the
authoritative box score, some seasons) and Pinnacle (start times and line history, 2016). A game is
the same game when it has the same local date and the same two teams; doubleheaders are told apart
by score and starting pitcher, never by file order (SBRO's order is wrong about half the time).
Where sources disagree the more authoritative one wins (Retrosheet > Pinnacle > SBRO for scores),
and the disagreement is recorded in ``curated.link_mismatches`` rather than hidden.
"""

from __future__ import annotations

import polars as pl
import psycopg
from psycopg import sql
from pydantic import BaseModel

from mlbedge.domain.teams import TEAMS
from mlbedge.games.live import load_live_games
from mlbedge.games.players import load_people, load_roster, resolve_listed_starters
from mlbedge.settings import get_settings
from mlbedge.storage.bulk import copy_into, upsert_frame
from mlbedge.storage.database import fetch_frame


class SeasonLink(BaseModel):
    """How one season's games link across sources."""

    season: int
    games: int
    postseason: int
    sbro: int
    retrosheet: int
    pinnacle: int
    sbro_retrosheet: int
    sbro_pinnacle: int
    live: int
    mismatches: int


class Mismatch(BaseModel):
    """Two sources disagree about one game (score, pitcher) or one side has no partner."""

    game_id: str
    kind: str
    detail: str


class LinkReport(BaseModel):
    """Per season link counts and every mismatch."""

    seasons: list[SeasonLink]
    mismatches: list[Mismatch]


_KEY = ["date", "away_team_id", "home_team_id"]
_ABBR = pl.DataFrame(
    {"team_id": [t.mlb_id for t in TEAMS], "abbr": [t.abbr for t in TEAMS]},
    schema={"team_id": pl.Int64, "abbr": pl.String},
)

_SBRO_ODDS = [
    "home_ml_open", "away_ml_open", "home_ml_close", "away_ml_close", "total_open", "total_close",
    "over_odds_open", "under_odds_open", "over_odds_close", "under_odds_close", "home_rl",
    "home_rl_odds", "away_rl_odds",
]  # fmt: skip

# A suspect-price flag from the SBRO loader names the prices it covers; those are not trusted.
_SUSPECT_PRICES = {
    "suspect_ml_open": ["home_ml_open", "away_ml_open"],
    "suspect_ml_close": ["home_ml_close", "away_ml_close"],
    "suspect_total_open_odds": ["over_odds_open", "under_odds_open"],
    "suspect_total_close_odds": ["over_odds_close", "under_odds_close"],
    "suspect_rl_odds": ["home_rl_odds", "away_rl_odds"],
}


def _surname_key(name: pl.Expr) -> pl.Expr:
    """``"Adam Wainwright"`` -> ``"AWAINWRIGHT"``, SBRO's spelling (first initial + surname)."""
    upper = name.str.to_uppercase().str.replace_all(r"[^A-Z ]", "")
    return upper.str.slice(0, 1) + upper.str.split(" ").list.last()


def _pitcher_agrees(sbro: pl.Expr, full_key: pl.Expr) -> pl.Expr:
    """SBRO writes a truncated ``initial+surname`` (sometimes surname only): a prefix test."""
    surname = full_key.str.slice(1)
    return (
        sbro.is_not_null()
        & full_key.is_not_null()
        & (full_key.str.starts_with(sbro) | surname.str.starts_with(sbro))
    ).fill_null(False)


def _assign(candidates: pl.DataFrame, left: str, right: str) -> pl.DataFrame:
    """Pick one partner per game from scored candidate pairs sharing date and teams.

    Single games (one candidate) are taken as they are. Within a doubleheader the pairing with the
    most agreement (scores, then pitchers) wins; ties keep the file order. Groups are at most 2x2,
    so the search is over the two possible pairings of each group.
    """
    sizes = candidates.group_by(_KEY).agg(pl.len().alias("_n"))
    candidates = candidates.join(sizes, on=_KEY)
    simple = candidates.filter(pl.col("_n") == 1)
    multi = candidates.filter(pl.col("_n") > 1)
    if multi.is_empty():
        return simple.drop("_n")
    # Rank each side within its group, then compare "straight" (1-1, 2-2) with "crossed" (1-2, 2-1).
    multi = multi.with_columns(
        pl.col(left).rank("dense").over(_KEY).alias("_l"),
        pl.col(right).rank("dense").over(_KEY).alias("_r"),
    ).with_columns(straight=(pl.col("_l") == pl.col("_r")))
    totals = multi.group_by([*_KEY, "straight"]).agg(pl.col("agreement").sum().alias("_total"))
    best = (
        totals.sort([*_KEY, "_total", "straight"], descending=[False, False, False, True, True])
        .group_by(_KEY, maintain_order=True)
        .first()
        .select([*_KEY, "straight"])
    )
    chosen = multi.join(best, on=[*_KEY, "straight"]).drop("_l", "_r", "straight")
    # A group where one side has a single game (the other source missed one): best candidate only.
    chosen = chosen.sort("agreement", descending=True).unique(subset=[*_KEY, left], keep="first")
    chosen = chosen.unique(subset=[*_KEY, right], keep="first")
    return pl.concat([simple, chosen], how="diagonal_relaxed").drop("_n")


def _load_staging(conn: psycopg.Connection) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    sbro = fetch_frame(conn, "SELECT * FROM staging.sbro_games")
    retro = fetch_frame(
        conn,
        """SELECT date, away_team_id, home_team_id, game_num, day_night, away_score, home_score,
                  away_starter_id, away_starter_name, home_starter_id, home_starter_name,
                  park_id, ump_hp_id, completion_date, htbf
           FROM staging.retrosheet_games""",
    )
    pinnacle = fetch_frame(
        conn,
        """SELECT pin_game_no, game_date_et AS date, away_team_id, home_team_id, doubleheader_game,
                  start_time_utc, away_score, home_score, away_pitcher, home_pitcher
           FROM staging.pinnacle_games WHERE NOT is_all_star""",
    )
    return sbro, retro, pinnacle


_KEY_SCHEMA = {"date": pl.Date, "away_team_id": pl.Int64, "home_team_id": pl.Int64}
_SBRO_SCHEMA = {
    **_KEY_SCHEMA, "season": pl.Int32, "dh_index": pl.Int64, "away_pitcher": pl.String,
    "home_pitcher": pl.String, "away_pitcher_hand": pl.String, "home_pitcher_hand": pl.String,
    "away_score": pl.Int64, "home_score": pl.Int64, "game_type": pl.String, "flags": pl.String,
    **{c: pl.Float64 if c in {"total_open", "total_close", "home_rl"} else pl.Int64 for c in _SBRO_ODDS},
}  # fmt: skip
_RETRO_SCHEMA = {
    **_KEY_SCHEMA, "game_num": pl.Int64, "day_night": pl.String, "away_score": pl.Int64,
    "home_score": pl.Int64, "away_starter_id": pl.String, "away_starter_name": pl.String,
    "home_starter_id": pl.String, "home_starter_name": pl.String, "park_id": pl.String,
    "ump_hp_id": pl.String, "completion_date": pl.Date, "htbf": pl.Boolean,
}  # fmt: skip
_PIN_SCHEMA = {
    **_KEY_SCHEMA, "pin_game_no": pl.Int64, "doubleheader_game": pl.Int64,
    "start_time_utc": pl.Datetime("us", "UTC"), "away_score": pl.Int64, "home_score": pl.Int64,
    "away_pitcher": pl.String, "home_pitcher": pl.String,
}  # fmt: skip


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly ``schema``'s columns and types (an all-null column from the database has no type)."""
    return (
        pl.DataFrame(schema=schema)
        if frame.is_empty()
        else frame.select(
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in schema.items()
        )
    )


def _pair(
    left: pl.DataFrame,
    other: pl.DataFrame,
    other_num: str,
    pitchers: tuple[str, str],
    left_id: str = "dh_index",
) -> pl.DataFrame:
    """``left``'s games paired with ``other``'s: columns key + ``left_id`` + ``other_num``.

    ``left`` carries scores and SBRO-style pitcher keys (``away_pitcher``/``home_pitcher``);
    ``other`` carries scores and full pitcher names in the ``pitchers`` columns.
    """
    if left.is_empty() or other.is_empty():
        return pl.DataFrame(schema={**_KEY_SCHEMA, left_id: pl.Int64, other_num: pl.Int64})
    away_p, home_p = pitchers
    candidates = left.select(
        [*_KEY, left_id, "away_score", "home_score", "away_pitcher", "home_pitcher"]
    ).join(
        other.select([*_KEY, other_num, "away_score", "home_score", away_p, home_p]).rename(
            {"away_score": "o_away", "home_score": "o_home", away_p: "o_ap", home_p: "o_hp"}
        ),
        on=_KEY,
    )
    agreement = (
        (pl.col("away_score") == pl.col("o_away")).fill_null(False).cast(pl.Int32) * 2
        + (pl.col("home_score") == pl.col("o_home")).fill_null(False).cast(pl.Int32) * 2
        + _pitcher_agrees(pl.col("away_pitcher"), _surname_key(pl.col("o_ap"))).cast(pl.Int32)
        + _pitcher_agrees(pl.col("home_pitcher"), _surname_key(pl.col("o_hp"))).cast(pl.Int32)
    )
    candidates = candidates.with_columns(agreement=agreement)
    return _assign(candidates, left_id, other_num).select([*_KEY, left_id, other_num])


def _null_suspect_prices(sbro: pl.DataFrame) -> pl.DataFrame:
    """Prices the loader flagged as suspect become missing: downstream never trusts them."""
    flags = pl.col("flags").fill_null("")
    exprs = []
    for column in _SBRO_ODDS:
        covering = [flag for flag, cols in _SUSPECT_PRICES.items() if column in cols]
        if covering:
            suspect = pl.any_horizontal([flags.str.contains(rf"\b{f}\b") for f in covering])
            exprs.append(pl.when(suspect).then(None).otherwise(pl.col(column)).alias(column))
    return sbro.with_columns(exprs) if exprs else sbro


def _flag(condition: pl.Expr, name: str) -> pl.Expr:
    """A one-element list ``[name]`` where ``condition`` holds, else an empty list."""
    return pl.when(condition).then(pl.lit([name])).otherwise(pl.lit([], dtype=pl.List(pl.String)))


def build_games(
    sbro: pl.DataFrame,
    retro: pl.DataFrame,
    pinnacle: pl.DataFrame,
    live: pl.DataFrame | None = None,
    people: pl.DataFrame | None = None,
    roster: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Link the staging frames into (games, mismatches). Pure: no database.

    ``live`` (from :func:`mlbedge.games.live.load_live_games`) adds the MLB ``gamePk`` to a
    historical game of the same id, and adds the games no historical file has. ``people`` and
    ``roster`` (from :mod:`mlbedge.games.players`) resolve SBRO's listed starters to Retrosheet ids
    (``home_listed_starter_id``/``away_listed_starter_id``); without them only the game log's own
    starter can be recognised.
    """
    sbro = _conform(sbro, _SBRO_SCHEMA)
    retro = _conform(retro, _RETRO_SCHEMA)
    pinnacle = _conform(pinnacle, _PIN_SCHEMA)
    sbro = _null_suspect_prices(sbro)
    s_r = _pair(sbro, retro, "game_num", ("away_starter_name", "home_starter_name"))

    # SBRO and Retrosheet first (the spine), then Pinnacle against the spine as a whole, so a game
    # SBRO lacks but the other two have (a doubleheader's first game) is still one game.
    base = sbro.join(s_r, on=[*_KEY, "dh_index"], how="left").with_columns(in_sbro=pl.lit(True))
    r = retro.rename(
        {
            "away_score": "r_away_score",
            "home_score": "r_home_score",
            "away_starter_name": "r_away_starter",
            "home_starter_name": "r_home_starter",
        }
    ).with_columns(in_retrosheet=pl.lit(True))
    p = pinnacle.rename(
        {
            "away_score": "p_away_score",
            "home_score": "p_home_score",
            "away_pitcher": "p_away_pitcher",
            "home_pitcher": "p_home_pitcher",
        }
    ).with_columns(in_pinnacle=pl.lit(True))
    spine = base.join(r, on=[*_KEY, "game_num"], how="full", coalesce=True).with_row_index("_spine")
    s_p = _pair(
        spine.with_columns(
            _spine=pl.col("_spine").cast(pl.Int64),
            # The box score's result and starters where Retrosheet has the game, else SBRO's.
            away_score=pl.coalesce("r_away_score", "away_score"),
            home_score=pl.coalesce("r_home_score", "home_score"),
            away_pitcher=pl.coalesce("away_pitcher", _surname_key(pl.col("r_away_starter"))),
            home_pitcher=pl.coalesce("home_pitcher", _surname_key(pl.col("r_home_starter"))),
        ),
        pinnacle,
        "doubleheader_game",
        ("away_pitcher", "home_pitcher"),
        left_id="_spine",
    )
    spine = spine.with_columns(pl.col("_spine").cast(pl.Int64)).join(
        s_p.select("_spine", "doubleheader_game"), on="_spine", how="left"
    )
    linked = spine.join(p, on=[*_KEY, "doubleheader_game"], how="full", coalesce=True).drop("_spine")
    for column in ("in_sbro", "in_retrosheet", "in_pinnacle"):
        if column not in linked.columns:
            linked = linked.with_columns(pl.lit(False).alias(column))
    linked = linked.with_columns(
        pl.col(c).fill_null(False) for c in ("in_sbro", "in_retrosheet", "in_pinnacle")
    )
    for column in (
        "game_num", "doubleheader_game", "day_night", "start_time_utc", "pin_game_no", "park_id",
        "ump_hp_id", "completion_date", "htbf",
    ):  # fmt: skip
        if column not in linked.columns:
            linked = linked.with_columns(pl.lit(None).alias(column))
    for column in (
        "r_away_score", "r_home_score", "r_away_starter", "r_home_starter", "away_starter_id",
        "home_starter_id", "p_away_score", "p_home_score", "p_away_pitcher", "p_home_pitcher",
    ):  # fmt: skip
        if column not in linked.columns:
            linked = linked.with_columns(pl.lit(None).alias(column))

    # Game number: Retrosheet's when linked, else Pinnacle's, else SBRO's file order.
    game_num = pl.coalesce("game_num", "doubleheader_game", "dh_index").cast(pl.Int16)
    season = pl.coalesce(pl.col("season"), pl.col("date").dt.year()).cast(pl.Int32)
    linked = linked.with_columns(game_num=game_num, season=season)
    dh_verified = (pl.col("dh_index").fill_null(0) > 0) & (pl.col("in_retrosheet") | pl.col("in_pinnacle"))
    score_sr = (
        pl.col("in_sbro")
        & pl.col("in_retrosheet")
        & (
            (pl.col("away_score") != pl.col("r_away_score"))
            | (pl.col("home_score") != pl.col("r_home_score"))
        ).fill_null(False)
    )
    score_sp = (
        pl.col("in_sbro")
        & pl.col("in_pinnacle")
        & (
            (pl.col("away_score") != pl.col("p_away_score"))
            | (pl.col("home_score") != pl.col("p_home_score"))
        ).fill_null(False)
    )
    linked = linked.with_columns(
        score_mismatch_retrosheet=score_sr,
        score_mismatch_pinnacle=score_sp,
        s_away_score=pl.col("away_score"),
        s_home_score=pl.col("home_score"),
        home_score=pl.coalesce("r_home_score", "p_home_score", "home_score"),
        away_score=pl.coalesce("r_away_score", "p_away_score", "away_score"),
        home_starter=pl.coalesce("r_home_starter", "p_home_pitcher", "home_pitcher"),
        away_starter=pl.coalesce("r_away_starter", "p_away_pitcher", "away_pitcher"),
        # Listed before the game (SBRO, else Pinnacle): never the box score's actual starter.
        home_listed_starter=pl.coalesce(pl.col("home_pitcher").cast(pl.String), "p_home_pitcher"),
        away_listed_starter=pl.coalesce(pl.col("away_pitcher").cast(pl.String), "p_away_pitcher"),
        game_type=pl.coalesce(pl.col("game_type"), pl.lit("R")),
    )
    # Flags: SBRO's own (its DH-order warning resolved where another source fixed the order).
    sbro_flags = (
        pl.col("flags")
        .fill_null("")
        .str.split(",")
        .list.eval(pl.element().filter((pl.element() != "") & (pl.element() != "dh_order_unverified")))
    )
    dh_in_file = pl.col("dh_index").fill_null(0) > 0
    extra = pl.concat_list(
        _flag(dh_verified, "dh_order_linked"),
        _flag(dh_in_file & ~dh_verified, "dh_order_unverified"),
        _flag(pl.col("score_mismatch_retrosheet"), "score_from_retrosheet"),
        _flag(pl.col("score_mismatch_pinnacle") & ~pl.col("in_retrosheet"), "score_from_pinnacle"),
    )
    linked = linked.with_columns(
        flags=pl.concat_list(sbro_flags, extra).list.unique(maintain_order=True).list.sort().list.join(",")
    )
    linked = (
        linked.join(
            _ABBR.rename({"team_id": "home_team_id", "abbr": "home_team"}), on="home_team_id", how="left"
        )
        .join(_ABBR.rename({"team_id": "away_team_id", "abbr": "away_team"}), on="away_team_id", how="left")
        .with_columns(
            game_id=pl.format(
                "{}-{}-{}-{}", pl.col("date").dt.strftime("%Y%m%d"), "away_team", "home_team", "game_num"
            ),
            sbro_dh_index=pl.col("dh_index").cast(pl.Int16),
        )
    )
    linked = _with_listed_starters(linked, people, roster)
    games = linked.select(
        "game_id", "season", "date", "game_type", "game_num", "home_team_id", "away_team_id",
        "home_team", "away_team", "start_time_utc", "day_night", "home_score", "away_score",
        "home_starter", "away_starter", "home_starter_id", "away_starter_id",
        "home_listed_starter", "away_listed_starter",
        pl.col("home_pitcher_hand").alias("home_starter_hand") if "home_pitcher_hand" in linked.columns
        else pl.lit(None, pl.String).alias("home_starter_hand"),
        pl.col("away_pitcher_hand").alias("away_starter_hand") if "away_pitcher_hand" in linked.columns
        else pl.lit(None, pl.String).alias("away_starter_hand"),
        *[pl.col(c) if c in linked.columns else pl.lit(None).alias(c) for c in _SBRO_ODDS],
        "in_sbro", "in_retrosheet", "in_pinnacle", "sbro_dh_index", "pin_game_no", "flags",
        "home_listed_starter_id", "away_listed_starter_id", "home_listed_starter_via",
        "away_listed_starter_via", "park_id", pl.col("ump_hp_id").alias("plate_umpire_id"),
        "completion_date", pl.col("htbf").fill_null(False),
    ).sort("date", "game_id")  # fmt: skip
    games, duplicates = _one_row_per_game(games)
    mismatches = pl.concat([_mismatches(linked), duplicates]).sort("game_id", "kind")
    # A live-only game has no game log: it was not played with the home team batting first.
    return _merge_live(games, live).with_columns(pl.col("htbf").fill_null(False)), mismatches


def _with_listed_starters(
    linked: pl.DataFrame, people: pl.DataFrame | None, roster: pl.DataFrame | None
) -> pl.DataFrame:
    """Add each side's listed (SBRO) starter as a Retrosheet id and how it was resolved."""
    linked = linked.with_row_index("_row")
    for column in ("home_pitcher", "away_pitcher", "home_pitcher_hand", "away_pitcher_hand"):
        if column not in linked.columns:
            linked = linked.with_columns(pl.lit(None, pl.String).alias(column))
    slots = pl.concat(
        [
            linked.filter(pl.col("in_sbro")).select(
                slot=pl.format("{}-{}", "_row", pl.lit(side)),
                season=pl.col("season").cast(pl.Int32),
                team_id=pl.col(f"{side}_team_id").cast(pl.Int64),
                listed=pl.col(f"{side}_pitcher").cast(pl.String),
                listed_hand=pl.col(f"{side}_pitcher_hand").cast(pl.String),
                starter_id=pl.col(f"{side}_starter_id").cast(pl.String),
                starter_name=pl.col(f"r_{side}_starter").cast(pl.String),
            )
            for side in ("home", "away")
        ]
    )
    resolved = resolve_listed_starters(slots, people, roster)
    for side in ("home", "away"):
        mine = resolved.filter(pl.col("slot").str.ends_with(f"-{side}")).select(
            _row=pl.col("slot").str.split("-").list.first().cast(pl.UInt32),
            **{f"{side}_listed_starter_id": pl.col("listed_id"), f"{side}_listed_starter_via": pl.col("via")},
        )
        linked = linked.join(mine, on="_row", how="left")
    return linked.drop("_row")


def _one_row_per_game(games: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep one row per ``game_id`` (the one most sources agree on) and report the others.

    Two records that share a date, teams and game number but could not be paired (a source listing
    a game twice, a doubleheader number no other source confirms) must not reach the table as two
    games: the better-linked one is kept and the rest named in the link report.
    """
    n_sources = (
        pl.col("in_sbro").cast(pl.Int8)
        + pl.col("in_retrosheet").cast(pl.Int8)
        + pl.col("in_pinnacle").cast(pl.Int8)
    )
    ranked = games.with_columns(_n=n_sources).sort(
        ["game_id", "_n"], descending=[False, True], maintain_order=True
    )
    first = pl.int_range(pl.len()).over("game_id") == 0
    dropped = ranked.filter(~first).select(
        "game_id",
        kind=pl.lit("duplicate_game"),
        detail=pl.format(
            "a second record of this game could not be paired (sbro={}, retrosheet={}, pinnacle={}); not kept",
            "in_sbro",
            "in_retrosheet",
            "in_pinnacle",
        ),
    )
    return ranked.filter(first).drop("_n").sort("date", "game_id"), dropped.unique(
        subset=["game_id"], keep="first"
    )


def _merge_live(games: pl.DataFrame, live: pl.DataFrame | None) -> pl.DataFrame:
    """Historical records win where both know a game; live-only games are appended."""
    if live is None or live.is_empty():
        return games.with_columns(game_pk=pl.lit(None, pl.Int64))
    live = live.join(
        _ABBR.rename({"team_id": "home_team_id", "abbr": "home_team"}), on="home_team_id", how="left"
    )
    live = live.join(
        _ABBR.rename({"team_id": "away_team_id", "abbr": "away_team"}), on="away_team_id", how="left"
    )
    live = live.with_columns(
        game_id=pl.format(
            "{}-{}-{}-{}", pl.col("date").dt.strftime("%Y%m%d"), "away_team", "home_team", "game_num"
        ),
        in_sbro=pl.lit(False),
        in_retrosheet=pl.lit(False),
        in_pinnacle=pl.lit(False),
        # A live game's starters are the probable pitchers listed by its cutoff.
        home_listed_starter=pl.col("home_starter"),
        away_listed_starter=pl.col("away_starter"),
    )
    games = games.join(live.select("game_id", "game_pk"), on="game_id", how="left")
    only_live = live.join(games.select("game_id"), on="game_id", how="anti")
    return pl.concat(
        [games, only_live.select([c for c in games.columns if c in only_live.columns])],
        how="diagonal_relaxed",
    )


def _mismatches(linked: pl.DataFrame) -> pl.DataFrame:
    """Disagreements worth a person's look: scores that differ, games one source lacks."""
    retro_seasons = linked.filter(pl.col("in_retrosheet")).get_column("season").unique()
    pin_seasons = linked.filter(pl.col("in_pinnacle")).get_column("season").unique()
    frames = [
        linked.filter(pl.col("score_mismatch_retrosheet")).select(
            "game_id",
            kind=pl.lit("score_sbro_vs_retrosheet"),
            detail=pl.format(
                "away-home: SBRO {}-{}, Retrosheet {}-{} (Retrosheet kept)",
                "s_away_score",
                "s_home_score",
                "r_away_score",
                "r_home_score",
            ),
        ),
        linked.filter(pl.col("score_mismatch_pinnacle")).select(
            "game_id",
            kind=pl.lit("score_sbro_vs_pinnacle"),
            detail=pl.format(
                "away-home: SBRO {}-{}, Pinnacle {}-{}",
                "s_away_score",
                "s_home_score",
                "p_away_score",
                "p_home_score",
            ),
        ),
        linked.filter(
            pl.col("in_sbro")
            & ~pl.col("in_retrosheet")
            & (pl.col("game_type") == "R")
            & pl.col("season").is_in(retro_seasons.implode())
        ).select(
            "game_id",
            kind=pl.lit("sbro_without_retrosheet"),
            detail=pl.lit("regular-season SBRO game not in Retrosheet"),
        ),
        linked.filter(pl.col("in_retrosheet") & ~pl.col("in_sbro")).select(
            "game_id", kind=pl.lit("retrosheet_without_sbro"), detail=pl.lit("Retrosheet game not in SBRO")
        ),
        linked.filter(
            pl.col("in_sbro") & ~pl.col("in_pinnacle") & pl.col("season").is_in(pin_seasons.implode())
        ).select("game_id", kind=pl.lit("sbro_without_pinnacle"), detail=pl.lit("SBRO game not in Pinnacle")),
        linked.filter(pl.col("in_pinnacle") & ~pl.col("in_sbro")).select(
            "game_id", kind=pl.lit("pinnacle_without_sbro"), detail=pl.lit("Pinnacle game not in SBRO")
        ),
        *(
            # A listed name that matches no one (a blank listing is no listing: not reported).
            linked.filter(
                pl.col("in_sbro")
                & pl.col(f"{side}_listed_starter_id").is_null()
                & (pl.col(f"{side}_pitcher").str.strip_chars().fill_null("") != "")
            ).select(
                "game_id",
                kind=pl.lit(f"listed_starter_unresolved_{side}"),
                detail=pl.format(
                    f"SBRO's {side} pitcher '{{}}' ({{}}) matches no Retrosheet id (game starter: {{}})",
                    pl.col(f"{side}_pitcher").fill_null(""),
                    pl.col(f"{side}_pitcher_hand").fill_null("?"),
                    pl.col(f"r_{side}_starter").fill_null("no game log"),
                ),
            )
            for side in ("home", "away")
        ),
    ]
    return pl.concat(frames).unique(subset=["game_id", "kind"], keep="first").sort("game_id", "kind")


def link_report(games: pl.DataFrame, mismatches: pl.DataFrame) -> LinkReport:
    """Per-season counts of games and of links between sources, plus the mismatch list."""
    per_game = games.join(
        mismatches.group_by("game_id").agg(pl.len().alias("n_mismatch")), on="game_id", how="left"
    )
    seasons = (
        per_game.group_by("season")
        .agg(
            games=pl.len(),
            postseason=(pl.col("game_type") == "P").sum(),
            sbro=pl.col("in_sbro").sum(),
            retrosheet=pl.col("in_retrosheet").sum(),
            pinnacle=pl.col("in_pinnacle").sum(),
            sbro_retrosheet=(pl.col("in_sbro") & pl.col("in_retrosheet")).sum(),
            sbro_pinnacle=(pl.col("in_sbro") & pl.col("in_pinnacle")).sum(),
            live=pl.col("game_pk").is_not_null().sum(),
            mismatches=pl.col("n_mismatch").is_not_null().sum(),
        )
        .sort("season")
    )
    return LinkReport(
        seasons=[SeasonLink(**row) for row in seasons.iter_rows(named=True)],
        mismatches=[Mismatch(**row) for row in mismatches.iter_rows(named=True)],
    )


def rebuild_games(conn: psycopg.Connection, cutoff_minutes: int | None = None) -> LinkReport:
    """Rebuild ``curated.games`` and ``curated.link_mismatches`` from staging; return the report.

    Idempotent: unchanged games are not rewritten, games no source has any more are removed.
    ``cutoff_minutes`` (default: the setting) decides which listed starters a live game keeps.
    """
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    games, mismatches = build_games(
        *_load_staging(conn),
        live=load_live_games(conn, cutoff),
        people=load_people(conn),
        roster=load_roster(conn),
    )
    for table, frame, key in (
        ("curated.games", games, ["game_id"]),
        ("curated.link_mismatches", mismatches, ["game_id", "kind"]),
    ):
        upsert_frame(conn, table, frame, key=key)
        _delete_missing(conn, table, frame, key)
    return link_report(games, mismatches)


def _delete_missing(conn: psycopg.Connection, table: str, frame: pl.DataFrame, key: list[str]) -> None:
    """Remove rows whose key is not in ``frame`` (the rebuild is the whole truth)."""
    if frame.is_empty():
        conn.execute(f"DELETE FROM {table}")
        return
    temp = f"_keep_{table.split('.')[1]}"
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT {', '.join(key)} FROM {table} WITH NO DATA"
    )
    conn.execute(f"TRUNCATE {temp}")
    copy_into(conn, sql.Identifier(temp), frame.select(key))
    match = " AND ".join(f"k.{c} = t.{c}" for c in key)
    conn.execute(f"DELETE FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {temp} k WHERE {match})")
