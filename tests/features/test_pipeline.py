"""The pipeline end to end: incremental equals full, storage, export, the cutoff setting."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pyarrow.parquet as pq
import pytest

from mlbedge.features.io import (
    build_and_store,
    export_columns,
    export_season,
    parquet_version,
    read_features,
    read_inputs,
    select_targets,
)
from mlbedge.features.pipeline import FeatureInputs, build_features
from mlbedge.features.registry import Family, feature_set_version, registry
from tests.features.conftest import CUTOFF
from tests.features.leakage import assert_same_rows


def _stored(conn: psycopg.Connection) -> pl.DataFrame:
    return read_features(conn).drop("computed_at")


def test_building_some_games_gives_exactly_their_rows_of_a_full_build(
    live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    days = [date(2015, 10, 4), date(2016, 4, 8), date(2016, 7, 4)]
    ids = live_baseline.filter(pl.col("date").is_in(days))["game_id"].to_list()
    got = build_features(live_inputs, cutoff_minutes=CUTOFF, game_ids=ids)
    assert got.height == len(ids) > 30
    assert_same_rows(got, live_baseline.filter(pl.col("game_id").is_in(ids)), "subset build")


def test_incremental_day_by_day_equals_a_full_rebuild(db_copy: str) -> None:
    """New games only, day after day, must store exactly what a full rebuild computes."""
    with psycopg.connect(db_copy) as conn:
        conn.execute("CREATE TABLE public.later AS SELECT * FROM curated.games WHERE date >= '2016-10-25'")
        conn.execute("DELETE FROM curated.games WHERE date >= '2016-10-25'")
        first = build_and_store(conn, full=True)
        assert first.games == conn.execute("SELECT count(*) FROM curated.games").fetchone()[0]  # type: ignore[index]
        days = [r[0] for r in conn.execute("SELECT DISTINCT date FROM public.later ORDER BY date").fetchall()]
        assert len(days) >= 5
        for day in days:
            conn.execute("INSERT INTO curated.games SELECT * FROM public.later WHERE date = %s", (day,))
            report = build_and_store(conn)
            on_day = conn.execute("SELECT count(*) FROM public.later WHERE date = %s", (day,)).fetchone()[0]  # type: ignore[index]
            assert report.games == on_day, f"{day}: built {report.games}, expected only that day's {on_day}"
        assert build_and_store(conn).games == 0, "nothing left to build"
        stored = _stored(conn)
        full = build_features(read_inputs(conn), cutoff_minutes=CUTOFF)
        conn.rollback()
    assert_same_rows(stored, full.select(stored.columns), "incremental build vs full rebuild")


def test_rows_round_trip_through_postgres_and_parquet(
    db_copy: str, tmp_path: Path, baseline: pl.DataFrame
) -> None:
    with psycopg.connect(db_copy) as conn:
        report = build_and_store(conn, seasons=[2016], full=True, cutoff_minutes=CUTOFF, parquet_dir=tmp_path)
        assert report.seasons == [2016] and report.games == baseline.filter(pl.col("season") == 2016).height
        stored = _stored(conn)
        out = tmp_path / "2016.parquet"
        rows, version = export_season(conn, 2016, out)
        with pytest.raises(LookupError, match="2015"):
            export_season(conn, 2015, tmp_path / "none.parquet")
        registered = conn.execute("SELECT n_features, cutoff_minutes FROM curated.feature_sets").fetchall()
    expected = baseline.filter(pl.col("season") == 2016)
    assert_same_rows(stored, expected.select(stored.columns), "stored rows")
    assert version == feature_set_version(CUTOFF) and rows == expected.height
    assert registered == [(len(registry()), CUTOFF)]
    exported = pl.read_parquet(out)
    assert exported.columns == export_columns() == ["game_id", "date", "as_of", *registry().names]
    assert_same_rows(exported, expected.select(export_columns()), "exported parquet")
    assert parquet_version(out) == version
    assert [Path(p).name for p in report.parquet] == ["season=2016.parquet"]
    assert pq.read_schema(report.parquet[0]).metadata[b"mlbedge.feature_set_version"] == version.encode()


def test_rows_computed_before_their_cutoff_are_rebuilt_and_a_new_feature_set_rebuilds_all(
    db_copy: str,
) -> None:
    with psycopg.connect(db_copy) as conn:
        last_day = conn.execute("SELECT max(date) FROM curated.games WHERE season = 2015").fetchone()[0]  # type: ignore[index]
        early = datetime.combine(last_day, datetime.min.time(), UTC) - timedelta(days=1)
        build_and_store(conn, seasons=[2015], full=True, now=early)
        version = feature_set_version(CUTOFF)
        # Computed a day before the season's last day: the rows of games whose cutoff was still
        # ahead are not final (more could be observed) and are built again; the others are final.
        pending = select_targets(conn, version, seasons=[2015])
        ahead = conn.execute(
            "SELECT game_id FROM curated.game_features WHERE season = 2015 AND as_of > %s ORDER BY game_id",
            (early,),
        ).fetchall()
        assert pending == [r[0] for r in ahead] and 0 < len(pending) < 50
        build_and_store(conn, seasons=[2015])
        assert select_targets(conn, version, seasons=[2015]) == []
        season_games = conn.execute("SELECT count(*) FROM curated.games WHERE season = 2015").fetchone()[0]  # type: ignore[index]
        assert len(select_targets(conn, "fs-another", seasons=[2015])) == season_games
        conn.rollback()


def test_the_cutoff_setting_moves_known_starts_only(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    ids = baseline.filter(pl.col("date").is_in([date(2015, 6, 1), date(2016, 6, 1)]))["game_id"].to_list()
    wide = build_features(real_inputs, cutoff_minutes=240, game_ids=ids)
    base = baseline.filter(pl.col("game_id").is_in(ids))
    joined = base.join(wide, on="game_id", suffix="_240")
    known = joined.filter(pl.col("start_known"))
    assert known.height > 5 and (known["as_of"] - known["as_of_240"] == timedelta(hours=3)).all()
    unknown = joined.filter(~pl.col("start_known"))
    assert unknown.height > 5 and (unknown["as_of"] == unknown["as_of_240"]).all()
    assert (known["ml_n_quotes_240"] <= known["ml_n_quotes"]).all()
    assert (known["ml_n_quotes_240"] < known["ml_n_quotes"]).any()
    assert wide["feature_set_version"][0] != base["feature_set_version"][0]


def test_absent_optional_inputs_are_null_not_zero(real_inputs: FeatureInputs, baseline: pl.DataFrame) -> None:
    ids = baseline.filter(pl.col("date") == date(2016, 6, 1))["game_id"].to_list()
    bare = build_features(replace(real_inputs, pinnacle_lines=None), cutoff_minutes=CUTOFF, game_ids=ids)
    for name in ("ml_home_prob_move", "rl_home_cover_prob", "mkt_hours_open_to_cutoff"):
        assert bare[name].null_count() == bare.height, name
    assert bare["ml_home_prob"].null_count() == 0, "the SBRO opening line is still there"
    non_market = [
        f.name for f in registry() if f.family is not Family.MARKET and f.family is not Family.SPLITS
    ]
    assert_same_rows(
        bare.select(non_market),
        baseline.filter(pl.col("game_id").is_in(ids)).select(non_market),
        "non-market",
    )
