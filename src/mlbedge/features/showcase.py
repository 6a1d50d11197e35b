"""One game's player-level features in words: what ``mlbedge demo`` prints after the build."""

from __future__ import annotations

from typing import Any

import psycopg

# A game whose start time is known (so its posted lineup is a feature) and whose listed starters
# are resolved, preferring the middle of a season (prior seasons and form both present).
_PICK = """
SELECT f.game_id, g.home_team, g.away_team, g.home_listed_starter_id, g.away_listed_starter_id,
       f.home_sp_fip_prior, f.home_sp_kbb_prior, f.home_sp_rest_days_id, f.home_sp_platoon_woba,
       f.away_sp_fip_prior, f.home_lineup_regulars_woba, f.home_lineup_last_woba,
       f.home_regulars_missing, f.home_posted_lineup_woba, f.home_bp_relievers_l3, f.start_known
FROM curated.game_features f JOIN curated.games g USING (game_id)
WHERE g.home_listed_starter_id IS NOT NULL AND f.home_sp_fip_prior IS NOT NULL
  AND f.home_lineup_regulars_woba IS NOT NULL AND f.home_sp_rest_days_id IS NOT NULL
ORDER BY f.start_known DESC, f.home_posted_lineup_woba IS NULL, abs(extract(doy FROM f.date) - 180), f.game_id
LIMIT 1
"""


def example_game(conn: psycopg.Connection) -> dict[str, Any] | None:
    """A stored game's starter, lineup and bullpen features, or None when none is stored yet."""
    try:
        with conn.cursor() as cur:
            cur.execute(_PICK)
            row = cur.fetchone()
            names = [d.name for d in cur.description or ()]
    except psycopg.errors.UndefinedColumn:
        conn.rollback()
        return None
    return dict(zip(names, row, strict=True)) if row is not None else None


def describe(example: dict[str, Any]) -> list[str]:
    """Readable lines for :func:`example_game`'s row."""

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    e = example
    lines = [
        f"{e['game_id']} ({e['away_team']} at {e['home_team']}):",
        f"  starter {e['home_listed_starter_id']}: prior FIP {num(e['home_sp_fip_prior'], '.2f')}, "
        f"K-BB% {num(e['home_sp_kbb_prior'] and e['home_sp_kbb_prior'] * 100, '.1f')}, "
        f"{num(e['home_sp_rest_days_id'], 'd')} days' rest, expected wOBA against "
        f"{num(e['home_sp_platoon_woba'], '.3f')} (opponent {e['away_listed_starter_id']}: FIP "
        f"{num(e['away_sp_fip_prior'], '.2f')})",
        f"  lineup: strongest usual {num(e['home_lineup_regulars_woba'], '.3f')} wOBA, latest "
        f"{num(e['home_lineup_last_woba'], '.3f')}, regulars missing {num(e['home_regulars_missing'], 'd')}, "
        f"posted {num(e['home_posted_lineup_woba'], '.3f')}"
        + ("" if e["start_known"] else " (start time unknown: no posted lineup)"),
        f"  bullpen: {num(e['home_bp_relievers_l3'], 'd')} relief appearances in the last 3 days",
    ]
    return lines
