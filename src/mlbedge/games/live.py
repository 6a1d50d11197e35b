"""Game records from the live MLB Stats API snapshots (``staging.schedule`` and friends).

A live game is keyed by its ``gamePk``. Its record takes the schedule facts from the newest
observation, the first pitch from the newest *pre-game* observation, the listed starters from the
newest pre-game listing observed at or before the cutoff (so a late change never leaks into a
feature), and the score from the newest final result (a label).

A finished game no pre-game listing was ever observed for (a result backfilled after the fact)
takes its starters from the newest listing at all, flagged ``starters_after_game``: like the
historical files' starters, they are who pitched, and they give later games the pitchers' records.
"""

from __future__ import annotations

import polars as pl
import psycopg

from mlbedge.storage.database import fetch_frame

# MLB game types that are games of the season: R regular, F/D/L/W the postseason rounds.
_POSTSEASON = ("F", "D", "L", "W")

LIVE_SCHEMA = {
    "game_pk": pl.Int64, "date": pl.Date, "season": pl.Int32, "game_type": pl.String,
    "game_num": pl.Int16, "away_team_id": pl.Int64, "home_team_id": pl.Int64,
    "start_time_utc": pl.Datetime("us", "UTC"), "day_night": pl.String, "home_score": pl.Int64,
    "away_score": pl.Int64, "home_starter": pl.String, "away_starter": pl.String,
    "home_starter_hand": pl.String, "away_starter_hand": pl.String, "flags": pl.String,
}  # fmt: skip

_SQL = """
WITH last_any AS (
    SELECT DISTINCT ON (game_pk) * FROM staging.schedule ORDER BY game_pk, observed_at DESC
), last_pre AS (
    SELECT DISTINCT ON (game_pk) game_pk, game_date FROM staging.schedule
    WHERE NOT in_play ORDER BY game_pk, observed_at DESC
), games AS (
    SELECT a.*, coalesce(p.game_date, a.game_date) AS first_pitch
    FROM last_any a LEFT JOIN last_pre p USING (game_pk)
    WHERE a.game_type = 'R' OR a.game_type = ANY(%(post)s)
), starters AS (
    SELECT DISTINCT ON (pp.game_pk, pp.side) pp.game_pk, pp.side, pp.pitcher_name, pp.pitch_hand
    FROM staging.pregame_probable_pitchers pp JOIN games g USING (game_pk)
    WHERE pp.observed_at <= g.first_pitch - make_interval(mins => %(cutoff)s)
    ORDER BY pp.game_pk, pp.side, pp.observed_at DESC
), late_starters AS (
    SELECT DISTINCT ON (pp.game_pk, pp.side) pp.game_pk, pp.side, pp.pitcher_name, pp.pitch_hand
    FROM staging.probable_pitchers pp JOIN games g USING (game_pk)
    WHERE pp.pitcher_name IS NOT NULL
    ORDER BY pp.game_pk, pp.side, pp.observed_at DESC
), finals AS (
    SELECT DISTINCT ON (game_pk) game_pk, home_score, away_score FROM staging.results
    WHERE is_final ORDER BY game_pk, observed_at DESC
)
SELECT g.game_pk, g.official_date AS date, coalesce(g.season, extract(year FROM g.official_date)) AS season,
       CASE WHEN g.game_type = 'R' THEN 'R' ELSE 'P' END AS game_type,
       CASE WHEN coalesce(g.double_header, 'N') = 'N' THEN 0 ELSE coalesce(g.game_number, 1) END AS game_num,
       g.away_team_id, g.home_team_id, g.first_pitch AS start_time_utc,
       CASE upper(left(g.day_night, 1)) WHEN 'D' THEN 'D' WHEN 'N' THEN 'N' END AS day_night,
       f.home_score, f.away_score,
       coalesce(hs.pitcher_name, lh.pitcher_name) AS home_starter,
       coalesce(aws.pitcher_name, la.pitcher_name) AS away_starter,
       upper(left(coalesce(hs.pitch_hand, lh.pitch_hand), 1)) AS home_starter_hand,
       upper(left(coalesce(aws.pitch_hand, la.pitch_hand), 1)) AS away_starter_hand,
       concat_ws(',',
           CASE WHEN g.detailed_state ILIKE 'postponed%%' THEN 'postponed' END,
           CASE WHEN g.start_time_tbd THEN 'start_time_tbd' END,
           CASE WHEN (lh.game_pk IS NOT NULL OR la.game_pk IS NOT NULL) THEN 'starters_after_game' END) AS flags
FROM games g
LEFT JOIN finals f USING (game_pk)
LEFT JOIN starters hs ON hs.game_pk = g.game_pk AND hs.side = 'home'
LEFT JOIN starters aws ON aws.game_pk = g.game_pk AND aws.side = 'away'
-- Only a finished game with no pre-game listing on either side falls back to the late listing.
LEFT JOIN late_starters lh ON lh.game_pk = g.game_pk AND lh.side = 'home'
    AND f.game_pk IS NOT NULL AND hs.game_pk IS NULL AND aws.game_pk IS NULL
LEFT JOIN late_starters la ON la.game_pk = g.game_pk AND la.side = 'away'
    AND f.game_pk IS NOT NULL AND hs.game_pk IS NULL AND aws.game_pk IS NULL
"""


def load_live_games(conn: psycopg.Connection, cutoff_minutes: int) -> pl.DataFrame:
    """One record per live game of the season (regular or postseason), in :data:`LIVE_SCHEMA`."""
    frame = fetch_frame(conn, _SQL, {"post": list(_POSTSEASON), "cutoff": cutoff_minutes})
    if frame.is_empty():
        return pl.DataFrame(schema=LIVE_SCHEMA)
    return frame.select(pl.col(name).cast(dtype) for name, dtype in LIVE_SCHEMA.items())
