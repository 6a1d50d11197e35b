"""Migrations run in order, once, and refuse an edited migration."""

from __future__ import annotations

import psycopg
import pytest

from mlbedge.storage.migrations import MigrationChecksumError, available_migrations, migrate


def test_migrations_apply_once_and_record_each_version(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        first = migrate(conn)
        second = migrate(conn)
        recorded = conn.execute(
            "SELECT version FROM public.mlbedge_schema_migrations ORDER BY version"
        ).fetchall()
        schemas = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")}
    assert [m.version for m in first] == [m.version for m in available_migrations()]
    assert second == []
    assert [r[0] for r in recorded] == [m.version for m in available_migrations()]
    assert {"raw", "staging", "curated"} <= schemas


def test_an_edited_migration_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        migrate(conn)
        conn.execute("UPDATE public.mlbedge_schema_migrations SET checksum = 'x' WHERE version = 1")
        conn.commit()
        with pytest.raises(MigrationChecksumError, match="0001_core"):
            migrate(conn)
