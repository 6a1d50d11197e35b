"""Park and umpire features on the real game logs 2010-2020: values, and nothing from the future."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from mlbedge.features import park, umpire
from mlbedge.features.asof import PARKS, local_midnight
from mlbedge.sources.historical.common import RawFile
from mlbedge.sources.historical.retrosheet import parse_retrosheet

SEASONS = range(2010, 2021)


@pytest.fixture(scope="module")
def games(data_dir: Path) -> pl.DataFrame:
    """Every game of the logs with its as_of (start of local date) and when its result is known."""
    frames = [parse_retrosheet(RawFile.read(data_dir / "retrosheet" / f"GL{s}.TXT"))[0] for s in SEASONS]
    logs = pl.concat(frames).with_columns(pl.col("home_team_id").cast(pl.Int64))
    tz = PARKS.select(pl.col("team_id").alias("home_team_id"), "tz")
    return (
        logs.join(tz, on="home_team_id", how="left")
        .with_columns(
            game_id=pl.format("{}-{}-{}", "date", "home_code", "game_num"),
            season=pl.col("date").dt.year().cast(pl.Int32),
            runs=(pl.col("home_score") + pl.col("away_score")).cast(pl.Int64),
            plate_umpire_id=pl.col("ump_hp_id"),
            as_of=local_midnight(pl.col("date"), pl.col("tz")),
            # A result is known at the end of the local date it was completed on.
            observed_at=local_midnight(
                pl.coalesce("completion_date", "date") + pl.duration(days=1), pl.col("tz")
            ),
        )
        .sort("date", "game_id")
    )


def _park(games: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    targets = games.select(*park.TARGET_SCHEMA)
    return park.compute(targets, history.select(*park.HISTORY_SCHEMA))


def _umpire(games: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    return umpire.compute(games.select(*umpire.TARGET_SCHEMA), history.select(*umpire.HISTORY_SCHEMA))


def _scramble(history: pl.DataFrame, which: pl.Expr) -> pl.DataFrame:
    """Poison: the runs of the chosen games become nonsense."""
    return history.with_columns(runs=pl.when(which).then(pl.col("runs") * 7 + 13).otherwise(pl.col("runs")))


def test_park_factors_are_plausible_and_coors_is_the_highest(games: pl.DataFrame) -> None:
    out = games.select("game_id", "season", "park_id").join(_park(games, games), on="game_id")
    assert (
        out.filter(pl.col("season") == 2010)["park_run_factor"].null_count()
        == out.filter(pl.col("season") == 2010).height
    )  # no earlier season in the files
    later = out.filter(pl.col("season") >= 2013)
    # Null only at a park new to the last three seasons (ATL03 in 2017, ARL03 in 2020, neutral sites).
    new = later.filter(pl.col("park_run_factor").is_null())
    assert (new["park_games_prior"] == 0).all() and {"ATL03", "ARL03"} <= set(new["park_id"])
    by_park = later.group_by("park_id").agg(pl.col("park_run_factor").mean()).sort("park_run_factor")
    assert by_park["park_id"][-1] == "DEN02"  # Coors Field
    assert by_park["park_run_factor"].min() > 0.8 and by_park["park_run_factor"].max() < 1.4


def test_park_features_of_a_season_ignore_that_season_and_later(games: pl.DataFrame) -> None:
    base = _park(games, games)
    for season in (2013, 2017, 2020):
        poisoned = _park(games, _scramble(games, pl.col("season") >= season))
        wanted = games.filter(pl.col("season") == season).select("game_id")
        assert wanted.join(base, on="game_id").equals(wanted.join(poisoned, on="game_id")), season
        # and it reads every earlier season: changing one does change the factors
        changed = _park(games, _scramble(games, pl.col("season") == season - 1))
        assert not wanted.join(base, on="game_id").equals(wanted.join(changed, on="game_id"))
    src = games.select("game_id", "as_of").join(base, on="game_id")
    assert (src["src_park_observed_at"] <= src["as_of"]).all()


def test_umpire_features_see_only_results_observed_by_the_cutoff(games: pl.DataFrame) -> None:
    base = games.select("game_id", "as_of").join(_umpire(games, games), on="game_id")
    assert (base["src_umpire_observed_at"] <= base["as_of"]).all()
    assert base["ump_games_prior"].null_count() == 0  # every logged game names its plate umpire
    late = base.filter(pl.col("as_of") > pl.lit(date(2015, 1, 1)).cast(pl.Datetime("us", "UTC")))
    assert late["ump_runs_per_game_diff"].abs().max() < 1.5 and late["ump_games_prior"].min() >= 0
    for cut in (date(2012, 7, 1), date(2019, 6, 15)):
        t = pl.lit(cut).cast(pl.Datetime("us", "UTC"))
        poisoned = games.select("game_id", "as_of").join(
            _umpire(games, _scramble(games, pl.col("observed_at") > t)), on="game_id"
        )
        keep = pl.col("as_of") <= t
        assert base.filter(keep).equals(poisoned.filter(keep)), cut
        assert not base.filter(~keep).equals(poisoned.filter(~keep))


def test_a_suspended_game_counts_for_its_umpire_only_from_its_completion_date(games: pl.DataFrame) -> None:
    suspended = games.filter((pl.col("date") == date(2019, 5, 19)) & (pl.col("away_code") == "OAK")).row(
        0, named=True
    )
    assert suspended["completion_date"] == date(2019, 9, 6)
    ump = suspended["plate_umpire_id"]
    his = games.filter(pl.col("plate_umpire_id") == ump).select("game_id", "date", "as_of")
    out = his.join(_umpire(games, games), on="game_id").sort("date")
    without = his.join(
        _umpire(games, games.filter(pl.col("game_id") != suspended["game_id"])), on="game_id"
    ).sort("date")
    between = (pl.col("date") > date(2019, 5, 19)) & (pl.col("date") <= date(2019, 9, 6))
    assert out.filter(between).height > 5
    # Until the end of 2019-09-06 his record is as if the game had not been played.
    assert out.filter(between).equals(without.filter(between))
    after = pl.col("date") > date(2019, 9, 6)
    diff = out.filter(after)["ump_games_prior"] - without.filter(after)["ump_games_prior"]
    assert diff.len() > 5 and (diff == 1).all()


def test_the_pipeline_builds_both_families_from_the_loaded_games(baseline: pl.DataFrame) -> None:
    """Wired into the pipeline: 2016 games get 2015's park factors, 2015 games none (no earlier
    season loaded), logged games their umpire's record; no source after the cutoff."""
    seasons = {s: baseline.filter(pl.col("season") == s) for s in (2015, 2016)}
    assert seasons[2015]["park_run_factor"].null_count() == seasons[2015].height
    assert seasons[2016]["park_run_factor"].null_count() < 0.02 * seasons[2016].height
    assert seasons[2016]["park_run_factor"].n_unique() >= 30
    assert baseline["ump_games_prior"].null_count() < 0.02 * baseline.height
    assert seasons[2016]["ump_games_prior"].mean() > seasons[2015]["ump_games_prior"].mean()  # type: ignore[operator]
    for column in ("src_park_observed_at", "src_umpire_observed_at"):
        known = baseline.filter(pl.col(column).is_not_null())
        assert known.height > 0 and (known[column] <= known["as_of"]).all(), column
