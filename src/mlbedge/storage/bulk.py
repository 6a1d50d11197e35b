"""Bulk writes with COPY, idempotent by natural key: loading the same data twice changes nothing."""

from __future__ import annotations

import io
from collections.abc import Sequence

import polars as pl
import psycopg
from psycopg import sql


def copy_into(conn: psycopg.Connection, table: sql.Composable, frame: pl.DataFrame) -> None:
    """Stream a frame into ``table`` with COPY ... FROM STDIN (CSV), the fastest load path."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="\\N")
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')").format(table, columns)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())


def upsert_frame(
    conn: psycopg.Connection,
    table: str,
    frame: pl.DataFrame,
    key: Sequence[str],
    *,
    update: bool = True,
) -> int:
    """Write ``frame`` into ``schema.table`` keyed by ``key``; return the rows inserted or changed.

    Rows are COPY'd into a temporary table and merged with one INSERT ... ON CONFLICT, so a
    re-load of identical data writes nothing (rows whose values did not change are not touched).
    With ``update=False`` existing keys are left as they are.
    """
    if frame.is_empty():
        return 0
    schema_name, _, table_name = table.partition(".")
    target = sql.Identifier(schema_name, table_name)
    temp = sql.Identifier(f"_load_{table_name}")
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            temp, target
        )
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(temp))
    copy_into(conn, temp, frame)

    cols = [sql.Identifier(c) for c in frame.columns]
    key_ids = [sql.Identifier(c) for c in key]
    value_cols = [c for c in frame.columns if c not in key]
    if update and value_cols:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in value_cols
        )
        changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in value_cols),
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in value_cols),
        )
        conflict = sql.SQL("DO UPDATE SET {} WHERE {}").format(assignments, changed)
    else:
        conflict = sql.SQL("DO NOTHING")
    statement = sql.SQL("INSERT INTO {} AS t ({cols}) SELECT {cols} FROM {} ON CONFLICT ({}) {}").format(
        target, temp, sql.SQL(", ").join(key_ids), conflict, cols=sql.SQL(", ").join(cols)
    )
    with conn.cursor() as cur:
        cur.execute(statement)
        return cur.rowcount
