"""Feature pipeline benchmarks (goals: full build <= 10 s and <= 2 GiB; one new day <= 1 s).

1. Full build of every game: SBRO 2010-2020 + Pinnacle 2016 line snapshots + Retrosheet game logs
   (lineups, starters) + Lahman + retrosplits (player-level families), read
   from PostgreSQL, computed, validated, written to ``curated.game_features`` and Parquet. Runs in
   a child process so that its peak memory (max RSS) is its own.
2. Incremental build of one new day: the games of 2016-09-15 arrive after everything before
   them was built; the build computes, stores and re-exports that season.
3. The team-form family in Polars beside a straightforward pandas implementation of the same
   family (same windows, same as-of rule, same Elo), measured in the same run: per-game cost and
   the ratio. The two outputs are checked to agree before any number is reported.

``python -m benchmarks.features_bench`` prints the results; ``benchmarks/run.py`` calls :func:`run`.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.features import team
from mlbedge.features.asof import game_clock
from mlbedge.features.io import build_and_store, read_inputs
from mlbedge.features.pipeline import FeatureInputs
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.lahman import load_lahman_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.retrosplits import load_retrosplits_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate

NEW_DAY = date(2016, 9, 15)
BENCH = "features"


def _load_everything(url: str) -> float:
    files = historical_files(Settings().data_dir)
    with psycopg.connect(url) as conn:
        migrate(conn)
        seconds, _ = timed(
            lambda: (
                load_sbro_files(conn, files.sbro),
                load_pinnacle(conn, files.pinnacle_games, files.pinnacle_lines),
                load_retrosheet_files(conn, files.retrosheet),
                load_lahman_files(conn, files.lahman),
                load_retrosplits_files(conn, files.retrosplits),
                rebuild_games(conn),
            )
        )
        conn.commit()
    return seconds


def _child_full_build(url: str, parquet_dir: str) -> None:
    """Child process: one full build; prints its timings and peak memory as JSON."""
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        report = build_and_store(conn, full=True, parquet_dir=Path(parquet_dir))
        conn.commit()
        total = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"games": report.games, "total": total, "steps": report.seconds, "peak_mib": peak_kib / 1024}
        )
    )


def _full_build(url: str) -> dict:
    with tempfile.TemporaryDirectory() as parquet_dir:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.features_bench", "--child-full-build", url, parquet_dir],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _incremental_day(url: str) -> tuple[float, int]:
    with psycopg.connect(url) as conn, tempfile.TemporaryDirectory() as parquet_dir:
        conn.execute(
            "CREATE TABLE public.bench_later AS SELECT * FROM curated.games WHERE date >= %s", (NEW_DAY,)
        )
        conn.execute("DELETE FROM curated.games WHERE date >= %s", (NEW_DAY,))
        build_and_store(conn, full=True)
        conn.execute("INSERT INTO curated.games SELECT * FROM public.bench_later WHERE date = %s", (NEW_DAY,))
        conn.commit()
        started = time.perf_counter()
        report = build_and_store(conn, parquet_dir=Path(parquet_dir))
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("INSERT INTO curated.games SELECT * FROM public.bench_later WHERE date > %s", (NEW_DAY,))
        conn.execute("DROP TABLE public.bench_later")
        conn.commit()
    return seconds, report.games


# ----------------------------------------------------------------------------------------------
# the team-form family, twice


def _polars_team(inputs: FeatureInputs) -> pl.DataFrame:
    games = inputs.games.lazy()
    clock = game_clock(games, 60)
    schedule = games.select("game_id", "season", "date", "game_num", "home_team_id", "away_team_id")
    results = games.select("game_id", "home_score", "away_score").join(
        clock.select("game_id", pl.col("result_observed_at").alias("observed_at")), on="game_id"
    )
    targets = schedule.join(clock.select("game_id", "as_of"), on="game_id")
    log = team.team_games(schedule, results)
    elo = team.elo_state(schedule, results).lazy()
    return team.compute(targets, log, elo).collect()


def _pandas_team(games: pd.DataFrame) -> pd.DataFrame:
    """The same team family written the straightforward pandas way (groupby/rolling/merge_asof,
    a Python loop for Elo)."""
    played = games.dropna(subset=["home_score", "away_score"])
    sides = []
    for us, them, is_home in (("home", "away", True), ("away", "home", False)):
        side = played[["game_id", "season", "date", "game_num", "result_observed_at"]].copy()
        side["team_id"] = played[f"{us}_team_id"]
        side["opp_id"] = played[f"{them}_team_id"]
        side["is_home"] = is_home
        side["rf"] = played[f"{us}_score"].astype(float)
        side["ra"] = played[f"{them}_score"].astype(float)
        sides.append(side)
    log = pd.concat(sides, ignore_index=True).rename(columns={"result_observed_at": "observed_at"})
    log["win"] = (log["rf"] > log["ra"]).astype(float)
    log["decided"] = (log["rf"] != log["ra"]).astype(float)
    log["one_run"] = ((log["rf"] - log["ra"]).abs() == 1).astype(float)
    log["outcome"] = np.sign(log["rf"] - log["ra"])
    log = log.sort_values(["team_id", "season", "date", "game_num", "game_id"]).reset_index(drop=True)

    def stats(frame: pd.DataFrame, keys: list[str], windows: list[int | None]) -> pd.DataFrame:
        grouped = frame.groupby(keys, sort=False)
        out = frame[keys].copy()
        out["observed_at"] = grouped["observed_at"].cummax()
        count = grouped.cumcount() + 1
        for w in windows:
            label = "season" if w is None else f"l{w}"
            sums = {}
            for c in ("win", "decided", "rf", "ra"):
                if w is None:
                    sums[c] = grouped[c].cumsum()
                else:
                    sums[c] = grouped[c].transform(lambda s, w=w: s.rolling(w, min_periods=1).sum())
            n = count if w is None else count.clip(upper=w)
            out[f"win_pct_{label}"] = (sums["win"] / sums["decided"]).where(sums["decided"] > 0)
            out[f"runs_scored_pg_{label}"] = sums["rf"] / n
            out[f"runs_allowed_pg_{label}"] = sums["ra"] / n
            out[f"run_diff_pg_{label}"] = (sums["rf"] - sums["ra"]) / n
            rs, ra = sums["rf"] ** team.PYTHAG_EXPONENT, sums["ra"] ** team.PYTHAG_EXPONENT
            out[f"pythag_{label}"] = (rs / (rs + ra)).where(rs + ra > 0)
        out["_n"] = count
        return out

    form = stats(log, ["team_id", "season"], [*team.WINDOWS, None])
    grouped = log.groupby(["team_id", "season"], sort=False)
    form["games_season"] = form["_n"]
    form["one_run_games_season"] = grouped["one_run"].cumsum()
    wins1 = (log["one_run"] * log["win"]).groupby([log["team_id"], log["season"]]).cumsum()
    form["one_run_win_pct_season"] = (wins1 / form["one_run_games_season"]).where(
        form["one_run_games_season"] > 0
    )

    def streaks(outcomes: pd.Series) -> pd.Series:
        values, current, previous = [], 0, None
        for o in outcomes:
            current = current + o if (o == previous and o != 0) else o
            previous = o
            values.append(current)
        return pd.Series(values, index=outcomes.index)

    form["streak"] = grouped["outcome"].transform(streaks)
    form = form.drop_duplicates(["team_id", "season", "observed_at"], keep="last")
    venue = stats(log, ["team_id", "season", "is_home"], [None])
    venue = venue.rename(
        columns={
            "win_pct_season": "venue_win_pct_season",
            "run_diff_pg_season": "venue_run_diff_pg_season",
            "_n": "venue_games_season",
        }
    )
    venue = venue.drop_duplicates(["team_id", "season", "is_home", "observed_at"], keep="last")
    h2h = stats(log, ["team_id", "opp_id", "season"], [None]).drop_duplicates(
        ["team_id", "opp_id", "season", "observed_at"], keep="last"
    )

    # Elo: day by day, each game rated from the ratings at the start of its day.
    ratings: dict[int, float] = {}
    elo_rows = []
    current_season = None
    ordered = played.sort_values(["date", "game_num", "home_team_id", "game_id"])
    for _day, day_games in ordered.groupby("date", sort=True):
        season = day_games["season"].iloc[0]
        if season != current_season:
            ratings = {t: team.ELO_MEAN + (r - team.ELO_MEAN) * team.ELO_CARRY for t, r in ratings.items()}
            current_season = season
        start = dict(ratings)
        for g in day_games.itertuples():
            h, a = start.get(g.home_team_id, team.ELO_MEAN), start.get(g.away_team_id, team.ELO_MEAN)
            diff = h + team.ELO_HOME_ADVANTAGE - a
            expected = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
            margin = g.home_score - g.away_score
            result = 1.0 if margin > 0 else 0.5 if margin == 0 else 0.0
            winner_diff = diff if margin > 0 else -diff
            delta = (
                team.ELO_K
                * math.log(abs(margin) + 1.0)
                * 2.2
                / (winner_diff * 0.001 + 2.2)
                * (result - expected)
            )
            ratings[g.home_team_id] = ratings.get(g.home_team_id, team.ELO_MEAN) + delta
            ratings[g.away_team_id] = ratings.get(g.away_team_id, team.ELO_MEAN) - delta
        for g in day_games.itertuples():
            for t in (g.home_team_id, g.away_team_id):
                elo_rows.append((t, season, g.date, g.result_observed_at, ratings[t]))
    elo = pd.DataFrame(elo_rows, columns=["team_id", "elo_season", "date", "observed_at", "elo"])
    elo["observed_at"] = elo.groupby(["team_id", "date"])["observed_at"].transform("max")
    elo = elo.drop_duplicates(["team_id", "observed_at"], keep="last")

    targets = games[["game_id", "season", "home_team_id", "away_team_id", "as_of"]].sort_values("as_of")
    out = targets.copy()
    form_cols = [c for c in form.columns if c not in ("team_id", "season", "observed_at", "_n")]
    for side in ("home", "away"):
        left = targets.rename(columns={f"{side}_team_id": "team_id"})[
            ["game_id", "team_id", "season", "as_of"]
        ]
        joined = pd.merge_asof(
            left,
            form.sort_values("observed_at"),
            left_on="as_of",
            right_on="observed_at",
            by=["team_id", "season"],
        )
        out = out.merge(
            joined[["game_id", *form_cols]]
            .add_prefix(f"{side}_")
            .rename(columns={f"{side}_game_id": "game_id"}),
            on="game_id",
        )
        left_v = left.assign(is_home=side == "home")
        joined = pd.merge_asof(
            left_v,
            venue.sort_values("observed_at"),
            left_on="as_of",
            right_on="observed_at",
            by=["team_id", "season", "is_home"],
        )
        cols = ["venue_win_pct_season", "venue_run_diff_pg_season", "venue_games_season"]
        out = out.merge(
            joined[["game_id", *cols]].add_prefix(f"{side}_").rename(columns={f"{side}_game_id": "game_id"}),
            on="game_id",
        )
        joined = pd.merge_asof(
            left, elo.sort_values("observed_at"), left_on="as_of", right_on="observed_at", by="team_id"
        )
        rating = joined["elo"].where(
            joined["elo_season"] >= joined["season"],
            team.ELO_MEAN + (joined["elo"] - team.ELO_MEAN) * team.ELO_CARRY,
        )
        out = out.merge(
            pd.DataFrame({"game_id": joined["game_id"], f"{side}_elo": rating.fillna(team.ELO_MEAN)}),
            on="game_id",
        )
    left = targets.rename(columns={"home_team_id": "team_id", "away_team_id": "opp_id"})[
        ["game_id", "team_id", "opp_id", "season", "as_of"]
    ]
    joined = pd.merge_asof(
        left,
        h2h.sort_values("observed_at"),
        left_on="as_of",
        right_on="observed_at",
        by=["team_id", "opp_id", "season"],
    )
    out = out.merge(
        joined[["game_id", "_n", "win_pct_season", "run_diff_pg_season"]].rename(
            columns={
                "_n": "h2h_games_season",
                "win_pct_season": "h2h_home_win_pct_season",
                "run_diff_pg_season": "h2h_home_run_diff_pg_season",
            }
        ),
        on="game_id",
    )
    counts = [
        f"{s}_{c}"
        for s in ("home", "away")
        for c in ("games_season", "venue_games_season", "one_run_games_season", "streak")
    ]
    out[[*counts, "h2h_games_season"]] = out[[*counts, "h2h_games_season"]].fillna(0)
    out["elo_diff"] = out["home_elo"] + team.ELO_HOME_ADVANTAGE - out["away_elo"]
    out["elo_home_win_prob"] = 1.0 / (1.0 + 10.0 ** (-out["elo_diff"] / 400.0))
    for name in ("win_pct_season", "win_pct_l10", "pythag_season", "run_diff_pg_season"):
        out[f"diff_{name}"] = out[f"home_{name}"] - out[f"away_{name}"]
    return out


def _agree(polars_out: pl.DataFrame, pandas_out: pd.DataFrame) -> None:
    """The two implementations compute the same family (to rounding)."""
    names = [f.name for f in team.FEATURES]
    left = polars_out.select("game_id", *names).sort("game_id")
    right = pl.from_pandas(pandas_out[["game_id", *names]]).sort("game_id")
    assert left.height == right.height, (left.height, right.height)
    for name in names:
        a = left[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        b = right[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        close = np.isclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
        if not close.all():
            raise AssertionError(f"pandas and Polars disagree on {name} in {int((~close).sum())} games")


def _team_family(inputs: FeatureInputs) -> list[Result]:
    games = inputs.games.select(
        "game_id",
        "season",
        "date",
        "game_num",
        "home_team_id",
        "away_team_id",
        "home_score",
        "away_score",
        "start_time_utc",
    )
    clock = game_clock(games.lazy(), 60).collect().select("game_id", "as_of", "result_observed_at")
    frame = games.join(clock, on="game_id")
    polars_inputs = FeatureInputs(games=frame)
    polars_seconds = min(timed(lambda: _polars_team(polars_inputs))[0] for _ in range(3))
    polars_out = _polars_team(polars_inputs)
    as_pandas = frame.to_pandas()
    pandas_seconds, pandas_out = timed(lambda: _pandas_team(as_pandas))
    _agree(polars_out, pandas_out)
    n = frame.height
    return [
        Result(
            BENCH,
            "team family, Polars: per game",
            polars_seconds / n * 1e6,
            "us",
            note=f"{n:,} games, best of 3",
        ),
        Result(
            BENCH,
            "team family, pandas: per game",
            pandas_seconds / n * 1e6,
            "us",
            note="same family, outputs checked equal",
        ),
        Result(BENCH, "team family, pandas / Polars", pandas_seconds / polars_seconds, "x"),
    ]


def run() -> list[Result]:
    """Every feature benchmark, on a scratch database loaded with all the historical files."""
    results: list[Result] = []
    with scratch_database() as url:
        load_seconds = _load_everything(url)
        full = _full_build(url)
        steps = full["steps"]
        results += [
            Result(
                BENCH,
                "full build: total",
                full["total"],
                "s",
                goal="<= 10 s",
                note=f"{full['games']:,} games, DB + Parquet; load was {load_seconds:.1f} s",
            ),
            Result(BENCH, "full build: read inputs", steps["read"], "s"),
            Result(BENCH, "full build: compute + validate", steps["compute"], "s"),
            Result(BENCH, "full build: write PostgreSQL", steps["write"], "s"),
            Result(BENCH, "full build: write Parquet", steps.get("parquet", 0.0), "s"),
            Result(
                BENCH,
                "full build: peak memory",
                full["peak_mib"] / 1024,
                "GiB",
                goal="<= 2 GiB",
                note="max RSS of the build process",
            ),
        ]
        seconds, games = _incremental_day(url)
        results.append(
            Result(
                BENCH,
                "incremental: one new day",
                seconds,
                "s",
                goal="<= 1 s",
                note=f"{games} games of {NEW_DAY}, DB + Parquet",
            )
        )
        with psycopg.connect(url) as conn:
            inputs = read_inputs(conn)
        results += _team_family(inputs)
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child-full-build":
        _child_full_build(sys.argv[2], sys.argv[3])
    else:
        for r in run():
            print(f"{r.metric:40s} {r.value:10.4g} {r.unit:4s} {r.goal:10s} {r.note}")
