"""The features' database side: read the inputs, choose what to build, store rows, export Parquet.

Bulk reads go through ``COPY (SELECT ...) TO STDOUT`` straight into Polars (times as epoch
microseconds, dates as day numbers: no text-format ambiguity), which is what keeps a full build
of every season within seconds. Writes replace the rows of the games built (delete, then COPY).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg
import pyarrow.parquet as pq
from psycopg import sql

from mlbedge.features import market, players, splits
from mlbedge.features.asof import TIMESTAMP
from mlbedge.features.pipeline import GAME_COLUMNS, META_COLUMNS, PROVENANCE, FeatureInputs, build_features
from mlbedge.features.registry import feature_set_version, registry
from mlbedge.settings import get_settings

TABLE = "curated.game_features"


# ----------------------------------------------------------------------------------------------
# reading


def _select_expr(column: str, dtype: pl.DataType) -> sql.Composable:
    ident = sql.Identifier(column)
    if dtype == TIMESTAMP:
        return sql.SQL("(extract(epoch from {}) * 1000000)::bigint AS {}").format(ident, ident)
    if dtype == pl.Date():
        return sql.SQL("({} - date '1970-01-01') AS {}").format(ident, ident)
    if dtype == pl.Boolean():
        return sql.SQL("{}::int AS {}").format(ident, ident)
    return sql.SQL("{}").format(ident)


def copy_frame(
    conn: psycopg.Connection,
    source: sql.Composable,
    schema: dict[str, pl.DataType],
    params: Sequence[object] | None = None,
) -> pl.DataFrame:
    """Rows of ``source`` (a table or a parenthesised subquery with an alias) as a typed frame."""
    select = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(_select_expr(c, t) for c, t in schema.items()), source
    )
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(select)
    buffer = io.BytesIO()
    with conn.cursor() as cur:
        # COPY takes no bind parameters: the client binds them into the statement text.
        query = psycopg.ClientCursor(conn).mogrify(statement, params) if params else statement
        with cur.copy(query) as copy:
            for chunk in copy:
                buffer.write(chunk)
    wire = {
        c: pl.Int64
        if t in (TIMESTAMP, pl.Date(), pl.Boolean()) or t.is_integer()
        else pl.Float64
        if t.is_float()
        else pl.String
        for c, t in schema.items()
    }
    if buffer.tell() == 0:
        return pl.DataFrame(schema=schema)
    raw = pl.read_csv(buffer.getvalue(), schema=wire)
    return raw.select(
        (
            pl.from_epoch(c, "us").dt.replace_time_zone("UTC").alias(c)
            if t == TIMESTAMP
            else pl.col(c).cast(pl.Int32).cast(pl.Date)
            if t == pl.Date()
            else pl.col(c).cast(pl.Boolean)
            if t == pl.Boolean()
            else pl.col(c).cast(t)
        )
        for c, t in schema.items()
    )


def _has_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, table, column),
    ).fetchone()
    return row is not None


def _has_table(conn: psycopg.Connection, qualified: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]  # type: ignore[index]


def read_inputs(
    conn: psycopg.Connection, *, max_season: int | None = None, line_games: Sequence[str] | None = None
) -> FeatureInputs:
    """Everything the features may read, from the database.

    Games: every season up to ``max_season`` (history feeds Elo and season-to-date state); only
    the columns the pipeline whitelists are selected. Snapshots (Pinnacle lines, live quotes and
    splits): only for ``line_games`` when given (a game's prices are only its own features').
    Live snapshots need ``curated.games.game_pk`` to link to games; before that link exists
    they are not read.
    """
    where = sql.SQL("")
    params: list[object] = []
    if max_season is not None:
        where = sql.SQL(" WHERE season <= %s")
        params.append(max_season)
    games = copy_frame(conn, sql.SQL("(SELECT * FROM curated.games{}) g").format(where), GAME_COLUMNS, params)
    lines, quotes, splits_frame = _read_snapshots(conn, line_games, with_splits=True)
    return FeatureInputs(
        games=games,
        pinnacle_lines=lines,
        quotes=quotes,
        splits=splits_frame,
        players=read_player_inputs(conn, max_season=max_season),
    )


def read_price_inputs(
    conn: psycopg.Connection, line_games: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The price snapshots of ``line_games`` alone, as :func:`read_inputs` reads them: Pinnacle line
    snapshots and live quotes (None before live quotes can be linked to games)."""
    lines, quotes, _ = _read_snapshots(conn, line_games, with_splits=False)
    return lines, quotes


def _read_snapshots(
    conn: psycopg.Connection, line_games: Sequence[str] | None, *, with_splits: bool
) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None]:
    """Pinnacle lines, live quotes and (``with_splits``) live splits, of ``line_games`` when given."""
    line_filter = sql.SQL("")
    line_params: list[object] = []
    if line_games is not None:
        line_filter = sql.SQL(" WHERE g.game_id = ANY(%s)")
        line_params.append(list(line_games))
    lines = copy_frame(
        conn,
        sql.SQL(
            "(SELECT l.* FROM staging.pinnacle_lines l JOIN curated.games g USING (pin_game_no){}) l"
        ).format(line_filter),
        market.PINNACLE_SCHEMA,
        line_params,
    )
    quotes = splits_frame = None
    if _has_column(conn, "curated", "games", "game_pk"):
        if _has_table(conn, "staging.pregame_odds_quotes"):
            quotes = copy_frame(
                conn,
                sql.SQL(
                    "(SELECT g.game_id, q.book, q.market, q.side, q.line, q.price, q.observed_at, q.in_play "
                    "FROM staging.pregame_odds_quotes q JOIN curated.games g USING (game_pk) "
                    "WHERE NOT q.is_opening AND NOT q.is_live{}) q"
                ).format(sql.SQL(" AND g.game_id = ANY(%s)") if line_games is not None else sql.SQL("")),
                market.QUOTE_SCHEMA,
                line_params,
            )
        if with_splits and _has_table(conn, "staging.pregame_splits"):
            splits_frame = copy_frame(
                conn,
                sql.SQL(
                    "(SELECT g.game_id, s.book, s.market, s.side, s.bets_pct, s.money_pct, s.observed_at, "
                    "s.in_play FROM staging.pregame_splits s JOIN curated.games g USING (game_pk){}) s"
                ).format(sql.SQL(" WHERE g.game_id = ANY(%s)") if line_games is not None else sql.SQL("")),
                splits.SPLITS_SCHEMA,
                line_params,
            )
    return lines, quotes, splits_frame


_GAME_FACT_SQL = {
    "home_listed_starter_id": "text",
    "away_listed_starter_id": "text",
    "home_starter_id": "text",
    "away_starter_id": "text",
    "park_id": "text",
    "plate_umpire_id": "text",
}


def read_player_inputs(conn: psycopg.Connection, *, max_season: int | None = None) -> players.PlayerInputs:
    """The player-level inputs (game-log lineups and starters, Lahman, retrosplits) that are loaded.

    A table not yet created (its loader never ran) is an absent input; so is a curated.games column
    a database does not have yet. Season tables are read up to ``max_season``.
    """
    season_cap = max_season if max_season is not None else 9999
    facts_columns = sql.SQL(", ").join(
        sql.SQL("{}").format(sql.Identifier(c))
        if _has_column(conn, "curated", "games", c)
        else sql.SQL("NULL::{} AS {}").format(sql.SQL(t), sql.Identifier(c))
        for c, t in _GAME_FACT_SQL.items()
    )
    facts = copy_frame(
        conn,
        sql.SQL("(SELECT game_id, {} FROM curated.games WHERE season <= %s) f").format(facts_columns),
        players.GAME_FACTS_SCHEMA,
        [season_cap],
    )
    lineups = pitching = batting = platoon = people = team_games = None
    on_game = "g.date = {t}.date AND g.home_team_id = {t}.home_team_id AND g.game_num = {t}.game_num AND g.season <= %s"
    if _has_table(conn, "staging.retrosheet_lineups"):
        lineups = copy_frame(
            conn,
            sql.SQL(
                "(SELECT g.game_id, l.side, l.batting_order, l.team_id, l.player_id, l.position "
                "FROM staging.retrosheet_lineups l JOIN curated.games g ON " + on_game.format(t="l") + ") l"
            ),
            players.LINEUP_SCHEMA,
            [season_cap],
        )
    if _has_table(conn, "staging.lahman_people"):
        people = copy_frame(
            conn,
            sql.SQL(
                "(SELECT retro_id AS player_id, bats, throws FROM staging.lahman_people "
                "WHERE retro_id IS NOT NULL) p"
            ),
            players.PEOPLE_SCHEMA,
        )
        if _has_table(conn, "staging.lahman_pitching"):
            pitching = copy_frame(
                conn,
                sql.SQL(
                    "(SELECT p.retro_id AS player_id, t.year_id AS season, sum(t.g) AS g, sum(t.gs) AS gs, "
                    "sum(t.ip_outs) AS ip_outs, sum(t.bfp) AS bf, sum(t.so) AS so, sum(t.bb) AS bb, "
                    "sum(t.hbp) AS hbp, sum(t.hr) AS hr, sum(t.er) AS er FROM staging.lahman_pitching t "
                    "JOIN staging.lahman_people p USING (player_id) "
                    "WHERE p.retro_id IS NOT NULL AND t.year_id <= %s GROUP BY 1, 2) t"
                ),
                players.PITCHING_SCHEMA,
                [season_cap],
            )
        if _has_table(conn, "staging.lahman_batting"):
            batting = copy_frame(
                conn,
                sql.SQL(
                    "(SELECT p.retro_id AS player_id, t.year_id AS season, sum(t.ab) AS ab, sum(t.h) AS h, "
                    "sum(t.x2b) AS x2b, sum(t.x3b) AS x3b, sum(t.hr) AS hr, sum(t.bb) AS bb, "
                    "sum(t.hbp) AS hbp, sum(t.sf) AS sf FROM staging.lahman_batting t "
                    "JOIN staging.lahman_people p USING (player_id) "
                    "WHERE p.retro_id IS NOT NULL AND t.year_id <= %s GROUP BY 1, 2) t"
                ),
                players.BATTING_SCHEMA,
                [season_cap],
            )
    if _has_table(conn, "staging.retrosplits_pitching_platoon"):
        platoon = copy_frame(
            conn,
            sql.SQL(
                "(SELECT pitcher_id AS player_id, season, batter_hand, sum(b_pa) AS pa, sum(b_h) AS h, "
                "sum(b_2b) AS x2b, sum(b_3b) AS x3b, sum(b_hr) AS hr, sum(b_bb) AS bb, sum(b_hp) AS hbp, "
                "sum(b_so) AS so FROM staging.retrosplits_pitching_platoon "
                "WHERE phase = 'R' AND season <= %s GROUP BY 1, 2, 3) p"
            ),
            players.PLATOON_SCHEMA,
            [season_cap],
        )
    if _has_table(conn, "staging.retrosplits_team_games"):
        # Pitchers used come from the game log's team totals; the rest from retrosplits' row.
        team_games = copy_frame(
            conn,
            sql.SQL(
                "(SELECT g.game_id, r.team_id, CASE WHEN r.team_alignment = 1 "
                "THEN (rg.stats->>'h_pitchers_used')::int ELSE (rg.stats->>'v_pitchers_used')::int END "
                "AS pitchers_used, r.p_pitch AS pitches, r.p_ir AS inherited_runners, "
                "r.p_irs AS inherited_scored, r.p_tbf AS batters_faced, r.p_so AS strikeouts, "
                "r.p_bb AS walks, r.p_r AS runs_allowed "
                "FROM staging.retrosplits_team_games r JOIN curated.games g ON g.date = r.game_date "
                "AND g.game_num = r.game_number AND g.season <= %s "
                "AND g.home_team_id = CASE WHEN r.team_alignment = 1 THEN r.team_id ELSE r.opponent_id END "
                "AND g.away_team_id = CASE WHEN r.team_alignment = 1 THEN r.opponent_id ELSE r.team_id END "
                "LEFT JOIN staging.retrosheet_games rg ON rg.date = g.date "
                "AND rg.home_team_id = g.home_team_id AND rg.game_num = g.game_num "
                "WHERE r.season_phase = 'R') r"
            ),
            players.TEAM_GAME_SCHEMA,
            [season_cap],
        )
    return players.PlayerInputs(
        game_facts=facts,
        lineups=lineups,
        pitching=pitching,
        batting=batting,
        platoon=platoon,
        people=people,
        team_games=team_games,
    )


# ----------------------------------------------------------------------------------------------
# schema and writing


def ensure_schema(conn: psycopg.Connection) -> None:
    """Add every registry feature (and provenance time) missing from ``curated.game_features``."""
    existing = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'curated' AND table_name = 'game_features'"
        ).fetchall()
    }
    missing = [(f.name, f.sql_type) for f in registry() if f.name not in existing]
    missing += [
        (name, "timestamptz")
        for name, dtype in PROVENANCE.items()
        if dtype == TIMESTAMP and name not in existing
    ]
    if not missing:
        return
    conn.execute(
        sql.SQL("ALTER TABLE curated.game_features {}").format(
            sql.SQL(", ").join(
                sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(sql.Identifier(name), sql.SQL(sql_type))
                for name, sql_type in missing
            )
        )
    )


def record_feature_set(conn: psycopg.Connection, version: str, cutoff_minutes: int) -> None:
    """Store the registry a version stands for (once per version)."""
    conn.execute(
        "INSERT INTO curated.feature_sets (version, cutoff_minutes, n_features, registry) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (version) DO NOTHING",
        (version, cutoff_minutes, len(registry()), json.dumps(registry().as_records())),
    )


def write_features(conn: psycopg.Connection, frame: pl.DataFrame, *, computed_at: datetime) -> int:
    """Replace the stored rows of the games in ``frame``; return the rows written."""
    if frame.is_empty():
        return 0
    ensure_schema(conn)
    conn.execute("DELETE FROM curated.game_features WHERE game_id = ANY(%s)", (frame["game_id"].to_list(),))
    rows = frame.with_columns(computed_at=pl.lit(computed_at).cast(TIMESTAMP))
    columns = [*META_COLUMNS, "computed_at", *PROVENANCE, *registry().names]
    buffer = io.BytesIO()
    rows.select(columns).write_csv(
        buffer, include_header=False, null_value="\\N", datetime_format="%Y-%m-%dT%H:%M:%S%.f%z"
    )
    statement = sql.SQL("COPY curated.game_features ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())
    return rows.height


def stored_schema() -> dict[str, pl.DataType]:
    """The stored row: meta, provenance and every registry feature, with their Polars types."""
    return {**META_COLUMNS, "computed_at": TIMESTAMP, **PROVENANCE, **registry().polars_schema()}


def read_features(
    conn: psycopg.Connection, *, seasons: Sequence[int] | None = None, game_ids: Sequence[str] | None = None
) -> pl.DataFrame:
    """Stored feature rows (optionally of some seasons or games), sorted by date and game."""
    ensure_schema(conn)
    conditions, params = [], []
    if seasons is not None:
        conditions.append("season = ANY(%s)")
        params.append(list(seasons))
    if game_ids is not None:
        conditions.append("game_id = ANY(%s)")
        params.append(list(game_ids))
    where = sql.SQL(" WHERE " + " AND ".join(conditions)) if conditions else sql.SQL("")
    frame = copy_frame(
        conn, sql.SQL("(SELECT * FROM curated.game_features{}) f").format(where), stored_schema(), params
    )
    return frame.sort("date", "game_id")


# ----------------------------------------------------------------------------------------------
# what to build


def select_targets(
    conn: psycopg.Connection,
    version: str,
    *,
    seasons: Sequence[int] | None = None,
    full: bool = False,
    now: datetime | None = None,
) -> list[str]:
    """The games a build must compute.

    Full: every game of ``seasons`` (all when None). Incremental: games with no stored row, a row
    of another feature set, or a row computed before its own cutoff (more could still have been
    observed); plus every stored game on or after the earliest of those dates, whose history the
    new games may change (an old season loaded late). A normal day adds just that day's games.
    """
    ensure_schema(conn)
    now = now or datetime.now(UTC)
    season_filter = sql.SQL(" AND g.season = ANY(%s)") if seasons is not None else sql.SQL("")
    params: list[object] = [list(seasons)] if seasons is not None else []
    if full:
        rows = conn.execute(
            sql.SQL("SELECT g.game_id FROM curated.games g WHERE true{}").format(season_filter), params
        ).fetchall()
        return sorted(r[0] for r in rows)
    stale = conn.execute(
        sql.SQL(
            "SELECT g.game_id, g.date FROM curated.games g LEFT JOIN curated.game_features f USING (game_id) "
            "WHERE (f.game_id IS NULL OR f.feature_set_version <> %s OR f.computed_at < f.as_of){}"
        ).format(season_filter),
        [version, *params],
    ).fetchall()
    if not stale:
        return []
    earliest = min(r[1] for r in stale)
    later = conn.execute("SELECT game_id FROM curated.game_features WHERE date >= %s", (earliest,)).fetchall()
    return sorted({r[0] for r in stale} | {r[0] for r in later})


@dataclass
class BuildReport:
    """What one build did."""

    version: str
    cutoff_minutes: int
    games: int
    written: int
    seasons: list[int]
    seconds: dict[str, float] = field(default_factory=dict)
    parquet: list[str] = field(default_factory=list)


def build_and_store(
    conn: psycopg.Connection,
    *,
    seasons: Sequence[int] | None = None,
    full: bool = False,
    cutoff_minutes: int | None = None,
    parquet_dir: Path | None = None,
    now: datetime | None = None,
) -> BuildReport:
    """Build the features the stored rows lack (or all of ``seasons`` with ``full``) and store them.

    Writes ``curated.game_features`` and, when ``parquet_dir`` is given, one Parquet file per
    season touched (``<dir>/<version>/season=<YYYY>.parquet``). The caller owns the transaction.
    """
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    version = feature_set_version(cutoff)
    now = now or datetime.now(UTC)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    targets = select_targets(conn, version, seasons=seasons, full=full, now=now)
    timings["select"] = time.perf_counter() - started
    if not targets:
        return BuildReport(version, cutoff, 0, 0, [], timings)
    target_seasons = sorted(
        {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT season FROM curated.games WHERE game_id = ANY(%s)", (targets,)
            )
        }
    )
    step = time.perf_counter()
    everything = full and seasons is None
    inputs = read_inputs(conn, max_season=max(target_seasons), line_games=None if everything else targets)
    timings["read"] = time.perf_counter() - step
    step = time.perf_counter()
    frame = build_features(inputs, cutoff_minutes=cutoff, game_ids=None if everything else targets)
    timings["compute"] = time.perf_counter() - step
    step = time.perf_counter()
    record_feature_set(conn, version, cutoff)
    written = write_features(conn, frame, computed_at=now)
    if full and seasons is None:
        conn.execute(
            "DELETE FROM curated.game_features f WHERE NOT EXISTS (SELECT 1 FROM curated.games g WHERE g.game_id = f.game_id)"
        )
    timings["write"] = time.perf_counter() - step
    report = BuildReport(version, cutoff, frame.height, written, target_seasons, timings)
    if parquet_dir is not None:
        step = time.perf_counter()
        for season in target_seasons:
            path = parquet_dir / version / f"season={season}.parquet"
            # A full build holds whole seasons; an incremental one re-reads the season it touched.
            rows = frame.filter(pl.col("season") == season) if full else read_features(conn, seasons=[season])
            write_parquet(rows, path, version)
            report.parquet.append(str(path))
        timings["parquet"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started
    return report


# ----------------------------------------------------------------------------------------------
# Parquet


def export_columns() -> list[str]:
    """The export's columns: ``game_id, date, as_of``, then one column per feature."""
    return ["game_id", "date", "as_of", *registry().names]


def write_parquet(frame: pl.DataFrame, path: Path, version: str) -> Path:
    """Write the export columns of ``frame`` to ``path``, the feature set version in the file metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = frame.select(export_columns()).to_arrow()
    metadata = {
        **(table.schema.metadata or {}),
        b"mlbedge.feature_set_version": version.encode(),
        b"mlbedge.features": json.dumps(registry().names).encode(),
    }
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


def parquet_version(path: Path) -> str | None:
    """The feature set version stored in an exported file's metadata."""
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(b"mlbedge.feature_set_version")
    return value.decode() if value is not None else None


def export_season(conn: psycopg.Connection, season: int, out: Path) -> tuple[int, str]:
    """Export one season's stored features to Parquet; returns (rows, feature set version).

    Raises ``LookupError`` when the season has no stored rows, and ``ValueError`` when its rows
    mix feature sets (a partial rebuild: run ``mlbedge features build --full`` first).
    """
    frame = read_features(conn, seasons=[season])
    if frame.is_empty():
        raise LookupError(f"no stored features for season {season}; run `mlbedge features build` first")
    versions = frame["feature_set_version"].unique().to_list()
    if len(versions) != 1:
        raise ValueError(f"season {season} mixes feature sets {sorted(versions)}; rebuild it with --full")
    write_parquet(frame, out, versions[0])
    return frame.height, versions[0]
