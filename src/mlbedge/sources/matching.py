"""Link every source's games to the MLB ``gamePk``: by teams, then first-pitch time or date.

Rules (fixtures/sources/SOURCES.md sections 2.5 and 5):

* a source game with a first-pitch time goes to the MLB game of the same away and home team whose
  scheduled first pitch is nearest, within a tolerance (default 6 h, so the same teams a day
  apart never mix);
* when several MLB games are equally near (a doubleheader whose second game only has a nominal
  time), the source's games of those teams are paired with them in order: the k-th distinct
  source start time with the k-th MLB game (``gameNumber``);
* a source game without a time (VSIN) goes by its own date and its order of the day (the game
  code sequence) against the MLB games of that ``officialDate`` in ``gameNumber`` order;
* two games of one source that claim the same ``gamePk`` with first pitches more than an hour
  apart are different games: only the nearer keeps the link, the other is ``ambiguous``;
* whatever cannot be linked stays in staging with ``game_pk`` null and is reported as
  ``unmatched`` (or ``ambiguous``) with a note, never dropped.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import psycopg
from psycopg import sql

from mlbedge.storage.bulk import copy_into
from mlbedge.storage.database import fetch_frame

SOURCE_COLUMNS = [
    "source",
    "source_game_key",
    "game_date",
    "start_time",
    "away_team_id",
    "home_team_id",
    "seq",
]
SCHEDULE_COLUMNS = ["game_pk", "official_date", "game_date", "away_team_id", "home_team_id", "game_number"]
RESULT_SCHEMA = {
    "source": pl.String,
    "source_game_key": pl.String,
    "game_pk": pl.Int64,
    "match_status": pl.String,
    "match_note": pl.String,
}
SAME_GAME = timedelta(hours=1)


def _order_key() -> pl.Expr:
    """MLB games of one pairing in order: game number, then scheduled first pitch."""
    return pl.col("game_number").cast(pl.Int64) * 10**11 + pl.col("first_pitch").dt.epoch("s")


def _result(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        [
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in RESULT_SCHEMA.items()
        ]
    )


def _norm(source_games: pl.DataFrame, schedule: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    src = source_games.select(SOURCE_COLUMNS).with_columns(
        pl.col("away_team_id").cast(pl.Int64),
        pl.col("home_team_id").cast(pl.Int64),
        pl.col("seq").cast(pl.Int64),
        pl.col("game_date").cast(pl.Date),
        pl.col("start_time").cast(pl.Datetime("us", "UTC")),
    )
    sched = (
        schedule.select(SCHEDULE_COLUMNS)
        .with_columns(
            pl.col("game_pk").cast(pl.Int64),
            pl.col("away_team_id").cast(pl.Int64),
            pl.col("home_team_id").cast(pl.Int64),
            pl.col("game_number").cast(pl.Int64).fill_null(1),
            pl.col("official_date").cast(pl.Date),
            pl.col("game_date").cast(pl.Datetime("us", "UTC")).alias("first_pitch"),
        )
        .drop("game_date")
        .unique(subset=["game_pk"], keep="last")
    )
    return src, sched


def _match_timed(src: pl.DataFrame, sched: pl.DataFrame, tolerance: timedelta) -> pl.DataFrame:
    keys = ["source", "source_game_key"]
    cands = (
        src.join(sched, on=["away_team_id", "home_team_id"], how="inner")
        .with_columns(diff=(pl.col("start_time") - pl.col("first_pitch")).abs())
        .filter(pl.col("diff") <= tolerance)
        .with_columns(best=pl.col("diff").min().over(keys))
        .filter(pl.col("diff") == pl.col("best"))
    )
    # Equally near MLB games (nominal doubleheader times): pair in order within the tie.
    tie_sets = cands.group_by(keys).agg(
        n_tied=pl.len(), tie_set=pl.col("game_pk").sort().cast(pl.String).str.join(",")
    )
    cands = cands.join(tie_sets, on=keys, how="left")
    unique = cands.filter(pl.col("n_tied") == 1)
    tied = cands.filter(pl.col("n_tied") > 1)
    if not tied.is_empty():
        group = ["source", "away_team_id", "home_team_id", "tie_set"]
        tied = (
            tied.with_columns(
                src_rank=pl.col("start_time").dt.truncate("15m").rank("dense").over(group),
                pk_rank=_order_key().rank("dense").over([*group, "source_game_key"]),
            )
            .filter(pl.col("src_rank") == pl.col("pk_rank"))
            .drop("src_rank", "pk_rank")
        )
    chosen = pl.concat([unique, tied], how="vertical_relaxed")
    # One source cannot have two different games (an hour or more apart) on one gamePk.
    chosen = chosen.with_columns(
        claim_start=pl.col("start_time").sort_by("diff").first().over(["source", "game_pk"]),
    ).with_columns(
        keep=(pl.col("start_time") - pl.col("claim_start")).abs() < SAME_GAME,
    )
    matched = chosen.filter(pl.col("keep")).with_columns(
        match_status=pl.lit("matched"),
        match_note=pl.format(
            "first pitch {} min from the MLB schedule",
            (pl.col("diff").dt.total_seconds() / 60).round(0).cast(pl.Int64),
        ),
    )
    lost = chosen.filter(~pl.col("keep")).with_columns(
        match_status=pl.lit("ambiguous"),
        match_note=pl.format("gamePk {} is nearer to another game of this source", pl.col("game_pk")),
        game_pk=pl.lit(None, dtype=pl.Int64),
    )
    done = pl.concat([_result(matched), _result(lost)])
    had_cands = cands.select(keys).unique()
    left = src.join(done.select(keys), on=keys, how="anti")
    in_tie = left.join(had_cands, on=keys, how="semi").with_columns(
        match_status=pl.lit("ambiguous"),
        match_note=pl.lit("more games of these teams than MLB games tied by time"),
    )
    none = left.join(had_cands, on=keys, how="anti").with_columns(
        match_status=pl.lit("unmatched"),
        match_note=pl.format(
            "no MLB game of these teams within {} h of first pitch",
            pl.lit(round(tolerance.total_seconds() / 3600, 1)),
        ),
    )
    return pl.concat([done, _result(in_tie), _result(none)])


def _match_dated(src: pl.DataFrame, sched: pl.DataFrame) -> pl.DataFrame:
    keys = ["source", "source_game_key"]
    group = ["source", "game_date", "away_team_id", "home_team_id"]
    ranked_src = src.sort("source_game_key").with_columns(
        rank=pl.col("seq").fill_null(0).rank("ordinal").over(group).cast(pl.Int64),
        n_src=pl.len().over(group),
    )
    ranked_sched = (
        sched.sort("game_pk")
        .with_columns(
            rank=_order_key()
            .rank("ordinal")
            .over(["official_date", "away_team_id", "home_team_id"])
            .cast(pl.Int64),
            n_sched=pl.len().over(["official_date", "away_team_id", "home_team_id"]),
        )
        .rename({"official_date": "game_date"})
    )
    joined = ranked_src.join(
        ranked_sched, on=["game_date", "away_team_id", "home_team_id", "rank"], how="left"
    )
    matched = joined.filter(
        pl.col("game_pk").is_not_null() & (pl.col("n_src") <= pl.col("n_sched"))
    ).with_columns(
        match_status=pl.lit("matched"),
        match_note=pl.format("by date and order of the day (game {})", pl.col("game_number")),
    )
    rest = src.join(matched.select(keys), on=keys, how="anti").with_columns(
        match_status=pl.lit("unmatched"),
        match_note=pl.lit("no MLB game of these teams on this date (or more source games than MLB games)"),
    )
    return pl.concat([_result(matched), _result(rest)])


def match_games(
    source_games: pl.DataFrame, schedule: pl.DataFrame, *, tolerance: timedelta = timedelta(hours=6)
) -> pl.DataFrame:
    """The ``gamePk`` of every source game, with ``match_status`` and a note saying how or why not.

    ``source_games``: source, source_game_key, game_date, start_time, away_team_id, home_team_id,
    seq. ``schedule``: game_pk, official_date, game_date (first pitch, UTC), away_team_id,
    home_team_id, game_number (one row per game, the latest observation).
    """
    if source_games.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    src, sched = _norm(source_games, schedule)
    timed = src.filter(pl.col("start_time").is_not_null())
    dated = src.filter(pl.col("start_time").is_null() & pl.col("game_date").is_not_null())
    neither = src.filter(pl.col("start_time").is_null() & pl.col("game_date").is_null()).with_columns(
        match_status=pl.lit("unmatched"),
        match_note=pl.lit("the source gives neither a first pitch nor a date"),
    )
    parts = [_result(neither)]
    if not timed.is_empty():
        parts.append(_match_timed(timed, sched, tolerance))
    if not dated.is_empty():
        parts.append(_match_dated(dated, sched))
    return pl.concat(parts)


# ---- database side -----------------------------------------------------------------------


def latest_schedule(conn: psycopg.Connection, start: date, end: date) -> pl.DataFrame:
    """The newest observation of every MLB game with ``official_date`` in ``start``..``end``."""
    return fetch_frame(
        conn,
        """SELECT DISTINCT ON (game_pk) game_pk, official_date, game_date, away_team_id, home_team_id,
                  game_number
           FROM staging.schedule WHERE official_date BETWEEN %s AND %s
           ORDER BY game_pk, observed_at DESC, origin""",
        (start, end),
    )


def link_games(
    conn: psycopg.Connection,
    *,
    since: datetime | None = None,
    tolerance: timedelta = timedelta(hours=6),
) -> pl.DataFrame:
    """Re-link source games (all, or those seen since ``since``), then carry the link and the
    MLB first pitch into the snapshots: ``game_pk`` on odds and splits, and ``in_play`` on every
    row observed at or after the game's first pitch (opening lines excepted). Returns the matches.
    """
    where = "WHERE last_seen_at >= %s" if since is not None else ""
    games = fetch_frame(
        conn,
        f"SELECT source, source_game_key, game_date, start_time, away_team_id, home_team_id, seq "
        f"FROM staging.source_games {where}",
        (since,) if since is not None else None,
    )
    if games.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    games = games.with_columns(
        pl.col("game_date").cast(pl.Date), pl.col("start_time").cast(pl.Datetime("us", "UTC"))
    )
    days = pl.concat(
        [games.get_column("game_date").drop_nulls(), games.get_column("start_time").drop_nulls().dt.date()]
    )
    if days.is_empty():
        schedule = pl.DataFrame(schema={c: pl.Int64 for c in SCHEDULE_COLUMNS})
    else:
        schedule = latest_schedule(conn, days.min() - timedelta(days=1), days.max() + timedelta(days=1))  # type: ignore[operator]
    if schedule.is_empty():
        schedule = pl.DataFrame(
            schema={
                "game_pk": pl.Int64,
                "official_date": pl.Date,
                "game_date": pl.Datetime("us", "UTC"),
                "away_team_id": pl.Int64,
                "home_team_id": pl.Int64,
                "game_number": pl.Int64,
            }
        )
    matches = match_games(games, schedule, tolerance=tolerance)
    links = matches.select("source", "source_game_key", "game_pk", "match_status", "match_note")
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _links (source text, source_game_key text, game_pk bigint, "
            "match_status text, match_note text) ON COMMIT DROP"
        )
        cur.execute("TRUNCATE _links")
        copy_into(conn, sql.Identifier("_links"), links)
        cur.execute(
            """UPDATE staging.source_games g
               SET game_pk = l.game_pk, match_status = l.match_status, match_note = l.match_note,
                   matched_at = CASE WHEN l.game_pk IS NOT NULL THEN now() END
               FROM _links l
               WHERE g.source = l.source AND g.source_game_key = l.source_game_key
                 AND (g.game_pk IS DISTINCT FROM l.game_pk OR g.match_status IS DISTINCT FROM l.match_status
                      OR g.match_note IS DISTINCT FROM l.match_note)"""
        )
        for table in ("odds_quotes", "splits"):
            cur.execute(
                f"""UPDATE staging.{table} q SET game_pk = l.game_pk FROM _links l
                    WHERE q.source = l.source AND q.source_game_key = l.source_game_key
                      AND q.game_pk IS DISTINCT FROM l.game_pk"""
            )
        mark_in_play(cur)
    return matches


def mark_in_play(cur: psycopg.Cursor) -> None:  # type: ignore[type-arg]
    """Mark every snapshot just linked (``_links``) that was observed at or after its game's
    (latest) MLB first pitch, and every probable-pitcher listing observed after it.

    One-way: a row once marked stays marked (a later, later-rescheduled start does not make an
    observation pre-game again); opening lines are pre-game facts whenever they were read.
    """
    first_pitch = """WITH first_pitch AS (
        SELECT DISTINCT ON (game_pk) game_pk, game_date FROM staging.schedule
        ORDER BY game_pk, observed_at DESC, origin)"""
    cur.execute(
        f"""{first_pitch}
            UPDATE staging.odds_quotes q SET in_play = true FROM first_pitch f
            WHERE q.game_pk = f.game_pk AND NOT q.in_play AND NOT q.is_opening AND q.observed_at >= f.game_date
              AND q.game_pk IN (SELECT game_pk FROM _links WHERE game_pk IS NOT NULL)"""
    )
    cur.execute(
        f"""{first_pitch}
            UPDATE staging.splits q SET in_play = true FROM first_pitch f
            WHERE q.game_pk = f.game_pk AND NOT q.in_play AND q.observed_at >= f.game_date
              AND q.game_pk IN (SELECT game_pk FROM _links WHERE game_pk IS NOT NULL)"""
    )
    cur.execute(
        f"""{first_pitch}
            UPDATE staging.probable_pitchers q SET in_play = true FROM first_pitch f
            WHERE q.game_pk = f.game_pk AND NOT q.in_play AND q.observed_at >= f.game_date"""
    )
