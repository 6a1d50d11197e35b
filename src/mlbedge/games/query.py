"""Read unified games out of ``curated.games`` in the shape of the CLI contract."""

from __future__ import annotations

import polars as pl
import psycopg


def games_frame(conn: psycopg.Connection, season: int) -> pl.DataFrame:
    """One row per game of ``season`` with the columns of DESIGN.md's ``data games``."""
    raise NotImplementedError
