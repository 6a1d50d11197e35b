"""``docs/features.md``, generated from the registry (``mlbedge features docs --out docs/features.md``).

The committed page is checked against the registry by a test, so it cannot drift: change a
feature, regenerate the page.
"""

from __future__ import annotations

from mlbedge.features.registry import FAMILY_DESCRIPTIONS, LABEL_ONLY, SOURCES, Family, registry

DOCS_PATH = "docs/features.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_feature_docs() -> str:
    """The whole features page as Markdown."""
    features = registry()
    lines = [
        "# Features",
        "",
        "<!-- Generated from src/mlbedge/features/registry.py by `mlbedge features docs --out docs/features.md`. "
        "Do not edit by hand: a test compares this page with the registry. -->",
        "",
        f"{len(features)} features in {len(Family)} families, one row per game. Every feature of game G is "
        "computed from facts observed at or before `as_of(G) = first_pitch(G) - cutoff` (setting "
        "`cutoff_minutes`, default 60). When the start time is unknown (every season but 2016), `as_of` is "
        "midnight at the start of G's local date (home team's time zone): only earlier dates count and "
        "the SBRO opening line is the only price.",
        "",
        "## The time rules",
        "",
        "- A game's **result** (and every statistic derived from it) is observed at the **end of its local "
        "date** (midnight after, home team's time zone). This is deliberately conservative: a "
        "doubleheader's game 2 never sees game 1's result, no game sees a same-day result, and after a "
        "west-to-east trip with an unknown start time the previous day's western result is still in the "
        "future at eastern midnight.",
        "- A **suspended game's** result is observed at the end of the date it was **completed** on "
        "(Retrosheet's completion field), at the latest midnight of any park (Pacific), and counts in "
        "team form, Elo and pitcher records from then on, never from its first date.",
        "- The **SBRO opening line** is observed at the start of the game's local date.",
        "- **Snapshots** (Pinnacle lines, live quotes and splits) are observed at their own `observed_at`.",
        "- The **schedule** and the **listed starters** are pre-game facts.",
        "- A **season-level row** (Lahman batting and pitching, retrosplits platoon splits) of season Y is "
        "observed at **Y+1-01-01 00:00 UTC**, after that season's last game: a game of season S sees "
        "seasons up to S-1 only.",
        "- A **team-game row** (retrosplits totals, the game log's pitchers used, the lineup a team used, "
        "who actually started) is observed at the end of its game's local date, like a result; a "
        "**suspended game**'s at the end of its **completion date**.",
        "- The **listed starter** (SBRO's, resolved to a Retrosheet id) is known when the opening line is "
        "made. Where an opener or a late scratch threw the first pitch instead, the listed one is the "
        "pre-game fact; the actual starter of a game is never read for that game.",
        "- A game's **own lineup** is posted a few hours before first pitch: it is observed 120 minutes "
        "before first pitch, and only where the start time is known (Pinnacle 2016, live). Where it is "
        "not, it is never observed, so the start-of-local-date `as_of` cannot see it. Features built on it "
        "are only worth judging against the price quotable at the cutoff, never against the opening "
        "line (by lineup time the price has moved).",
        "- Every fact reaches a game through an as-of join (`observed_at <= as_of`). Each stored row carries "
        "the newest observation time each family read (`src_<family>_observed_at`); the pipeline rejects "
        "any row where one is later than `as_of`.",
        "",
        "## Sources",
        "",
        "| source | what and when observed |",
        "|---|---|",
        *[f"| `{name}` | {_cell(text)} |" for name, text in SOURCES.items()],
        "",
        "Never read by any feature (labels and benchmarks only): "
        + ", ".join(f"`{c}`" for c in LABEL_ONLY)
        + ". The closing lines are the benchmark; SBRO's run line has no opening price, so it is "
        "closing-ish and never a feature.",
        "",
        "Null means \"not observed\" (a team's first game of a season, a historical game's splits), never zero.",
        "",
    ]
    for family in Family:
        members = features.family(family)
        lines += [
            f"## {family.value} ({len(members)})",
            "",
            FAMILY_DESCRIPTIONS[family],
            "",
            "| feature | type | nullable | sources | description |",
            "|---|---|---|---|---|",
            *[
                f"| `{f.name}` | {f.dtype} | {'yes' if f.nullable else 'no'} | "
                f"{', '.join(f'`{s}`' for s in f.sources)} | {_cell(f.description)} |"
                for f in members
            ],
            "",
        ]
    return "\n".join(lines)
