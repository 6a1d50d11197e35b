"""Link the per-source staging tables into ``curated.games`` and report how well they agree."""

from __future__ import annotations

import psycopg
from pydantic import BaseModel


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


def rebuild_games(conn: psycopg.Connection) -> LinkReport:
    """Rebuild ``curated.games`` from staging; return the link report."""
    raise NotImplementedError
