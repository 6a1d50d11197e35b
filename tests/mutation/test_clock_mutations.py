"""Mutation checks: the leakage suite must fail on each deliberate clock error.

Each mutation is applied to a COPY of the source tree (a temporary directory put first on
PYTHONPATH); the package itself is never touched. The leakage subset (:data:`SUITE`: the
independent oracle and the suspended-game check, on the real files) then runs against the copy
in a child pytest, and must fail with an assertion. A mutation the suite lets through fails this
test: the leakage tests would not notice that bug in the product either. A mutation whose anchor
text is gone (the code was reshaped) fails too, naming it, so the list is kept in step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (which must occur exactly once) by ``new`` in ``path`` (under src/mlbedge)."""

    name: str
    path: str
    old: str
    new: str


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "a result seen from the start of its own date",
        "features/asof.py",
        '.otherwise(local_midnight(pl.col("date") + pl.duration(days=1), pl.col("home_tz"))),',
        '.otherwise(local_midnight(pl.col("date"), pl.col("home_tz"))),',
    ),
    Mutation(
        "a doubleheader's first game seen by the second (result known 3 h after first pitch)",
        "features/asof.py",
        '.otherwise(local_midnight(pl.col("date") + pl.duration(days=1), pl.col("home_tz"))),',
        ".when(start.is_not_null()).then(start + pl.duration(hours=3))"
        '.otherwise(local_midnight(pl.col("date") + pl.duration(days=1), pl.col("home_tz"))),',
    ),
    Mutation(
        "the closing line read as the open",
        "features/pipeline.py",
        "games = conform(inputs.games, GAME_COLUMNS)",
        "games = conform(inputs.games.with_columns(**{o: pl.coalesce(c, o) for o, c in ("
        '("home_ml_open", "home_ml_close"), ("away_ml_open", "away_ml_close"), ("total_open", "total_close"), '
        '("over_odds_open", "over_odds_close"), ("under_odds_open", "under_odds_close")) '
        "if c in inputs.games.columns}), GAME_COLUMNS)",
    ),
    Mutation(
        "a season's totals used during that season",
        "features/team.py",
        "pl.col(column).cum_sum()",
        "pl.col(column).sum()",
    ),
    Mutation(
        "a suspended game's result on its first date",
        "features/asof.py",
        'pl.coalesce(completion.cast(pl.Date), pl.col("date")).alias("result_date")',
        'pl.col("date").alias("result_date")',
    ),
)

# The leakage subset run against each mutant: the cheapest catching test first (-x stops there).
SUITE: tuple[str, ...] = (
    "tests/features/test_oracle.py::test_each_sampled_game_rebuilt_from_what_was_observed_by_its_cutoff_is_unchanged",
    "tests/features/test_suspended.py::test_altering_the_suspended_score_changes_nothing_before_its_completion",
)


def mutant_tree(mutation: Mutation, into: Path) -> Path:
    """A copy of ``src/`` with ``mutation`` applied; returns the copy's ``src`` directory."""
    src = into / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = src / "mlbedge" / mutation.path
    text = target.read_text()
    count = text.count(mutation.old)
    if count != 1:
        raise AssertionError(
            f"mutation {mutation.name!r}: its anchor occurs {count} times in src/mlbedge/{mutation.path} "
            f"(expected once); update tests/mutation/test_clock_mutations.py with the code"
        )
    target.write_text(text.replace(mutation.old, mutation.new))
    return src


PYTEST = (sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rf")


def run_suite(src: Path, loaded_db_url: str) -> subprocess.CompletedProcess[str]:
    """The leakage subset in a child pytest importing ``mlbedge`` from ``src``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), str(REPO)]),
        "MLBEDGE_TEST_LOADED_DB_URL": loaded_db_url,
        "PYTHONDONTWRITEBYTECODE": "1",
        "MLBEDGE_TEST_FIRST_LEAK_ONLY": "1",  # one caught leak per mutant is the verdict
    }
    check = (
        "import mlbedge, pathlib, sys; "
        f"sys.exit(0 if pathlib.Path(mlbedge.__file__).is_relative_to({str(src)!r}) else 3)"
    )
    subprocess.run([sys.executable, "-c", check], env=env, check=True, timeout=60)
    return subprocess.run(
        # Its own --basetemp: a child pytest would otherwise reset the shared pytest-of-<user> folder
        # to mode 0700 under the embedded-PostgreSQL tests, whose server runs as another user.
        [*PYTEST, "--basetemp", str(src.parent / "pytest"), *SUITE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)  # five child runs: about a minute of CPU idle, far longer on a shared machine
def test_every_clock_mutation_makes_the_leakage_suite_fail(
    loaded_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """RULE: each deliberate clock error is caught. Every mutant tree must fail the leakage
    subset with an assertion (not an import or collection error); survivors are named."""

    def attempt(mutation: Mutation) -> tuple[Mutation, subprocess.CompletedProcess[str]]:
        src = mutant_tree(mutation, tmp_path_factory.mktemp("mutant"))
        return mutation, run_suite(src, loaded_db_url)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(attempt, MUTATIONS))
    survivors, broken = [], []
    for mutation, run in outcomes:
        tail = run.stdout[-2000:]
        if run.returncode == 0:
            survivors.append(mutation.name)
        elif run.returncode != 1 or "AssertionError" not in run.stdout:
            broken.append(f"{mutation.name}: exit {run.returncode}\n{tail}\n{run.stderr[-1000:]}")
    assert not survivors, f"mutations the leakage suite did not catch: {survivors}"
    assert not broken, "mutants that failed for another reason than a caught leak:\n" + "\n".join(broken)
