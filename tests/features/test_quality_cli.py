"""Quality report and the ``mlbedge features`` commands, on the real 2015-2016 data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.features.io import parquet_version
from mlbedge.features.quality import last_baseline, quality_report, store_report
from mlbedge.features.registry import Family, registry
from mlbedge.settings import get_settings


def _family(report, name: str):  # type: ignore[no-untyped-def]
    return next(f for f in report.families if f.family == name)


def test_quality_report_counts_completeness_and_attributes_sources(baseline: pl.DataFrame) -> None:
    report = quality_report(baseline)
    assert report.games == baseline.height and report.seasons == [2015, 2016]
    assert len(report.features) == len(registry())
    splits = _family(report, "splits")
    assert splits.completeness == pytest.approx(
        len([f for f in registry().family(Family.SPLITS) if not f.nullable])
        / len(registry().family(Family.SPLITS))
    )
    market = _family(report, "market")
    share_2016 = baseline.filter(pl.col("season") == 2016).height / baseline.height
    assert market.sources["sbro"] > 0.99
    assert market.sources["pinnacle"] == pytest.approx(share_2016, abs=0.01)
    assert market.by_season[2016] > market.by_season[2015]  # Pinnacle's history fills movement in 2016
    temporal = _family(report, "temporal")
    assert temporal.sources["day_night"] > 0.98  # Retrosheet 2015-2016 (null where the game log lacks a game)
    home_elo = next(q for q in report.features if q.name == "home_elo")
    assert home_elo.completeness == 1.0
    # No family is less complete in 2016 than in 2015, and there is no earlier run: nothing flagged.
    assert report.flags == []
    assert 0 < report.per_game.minimum <= report.per_game.median <= 1


def test_a_drop_against_the_last_run_or_the_season_before_is_flagged(baseline: pl.DataFrame) -> None:
    report = quality_report(baseline, baseline={"team": 1.0, "market": 0.1}, tolerance=0.005)
    assert _family(report, "team").dropped and not _family(report, "market").dropped
    assert any(flag.startswith("team:") and "last run" in flag for flag in report.flags)
    # Make 2016 look like 2015 minus Pinnacle, and 2015 the later season: a season-over-season drop.
    swapped = baseline.with_columns(season=pl.when(pl.col("season") == 2015).then(2017).otherwise(2016))
    flagged = quality_report(swapped)
    assert any(flag.startswith("market:") and "2017" in flag for flag in flagged.flags)


def test_quality_runs_are_kept_as_the_next_baseline(db_copy: str, baseline: pl.DataFrame) -> None:
    with psycopg.connect(db_copy) as conn:
        assert last_baseline(conn) is None
        report = quality_report(baseline)
        assert store_report(conn, report, datetime(2026, 1, 1, tzinfo=UTC)) == len(Family) * 3
        stored = last_baseline(conn)
        only_2015 = last_baseline(conn, [2015])
        assert last_baseline(conn, [2019]) is None
        conn.rollback()
    assert stored == pytest.approx({f.family: f.completeness for f in report.families})
    assert only_2015 == pytest.approx({f.family: f.by_season[2015] for f in report.families})


@pytest.fixture
def cli_env(db_copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", db_copy)
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_build_export_quality_list_and_docs(cli_env: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(app, ["features", "build", "--seasons", "2015-2016"])
    assert built.exit_code == 0, built.output
    assert "built 4," in built.output and "feature set fs-" in built.output
    again = runner.invoke(app, ["features", "build", "--seasons", "2015-2016"])
    assert again.exit_code == 0 and "nothing to build" in again.output
    parquet = list((cli_env / "home" / "features").glob("*/season=2016.parquet"))
    assert len(parquet) == 1

    out = cli_env / "f2015.parquet"
    exported = runner.invoke(app, ["features", "export", "--season", "2015", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    frame = pl.read_parquet(out)
    assert frame.columns[:3] == ["game_id", "date", "as_of"] and frame.width == 3 + len(registry())
    assert frame.height > 2400 and parquet_version(out) is not None
    missing = runner.invoke(
        app, ["features", "export", "--season", "2019", "--out", str(cli_env / "x.parquet")]
    )
    assert missing.exit_code == 1 and "no stored features for season 2019" in missing.output

    quality = runner.invoke(app, ["features", "quality"])
    assert quality.exit_code == 0, quality.output
    assert "Completeness by family" in quality.output and "pinnacle" in quality.output
    assert "no family's completeness dropped" in quality.output

    listed = runner.invoke(app, ["features", "list", "--format", "json", "--family", "market"])
    records = json.loads(listed.output)
    assert listed.exit_code == 0 and {r["family"] for r in records} == {"market"}
    assert len(records) == len(registry().family(Family.MARKET))

    docs = runner.invoke(app, ["features", "docs", "--out", str(cli_env / "features.md")])
    assert docs.exit_code == 0 and (cli_env / "features.md").read_text().startswith("# Features")

    bad = runner.invoke(app, ["features", "build", "--seasons", "2016-2015"])
    assert bad.exit_code != 0
