"""Feature quality: completeness per feature, per family and per game, and where each family's facts came from.

Completeness is the share of non-null values. Nulls are honest here (a first game of a season has
no form, a historical game has no splits), so the numbers describe coverage rather than defects;
what signals a problem is a *drop*: a family less complete than at the last stored run, or than
in the previous season. Those are flagged.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
import psycopg
from pydantic import BaseModel

from mlbedge.features.registry import FAMILY_DESCRIPTIONS, Family, registry
from mlbedge.storage.bulk import upsert_frame
from mlbedge.storage.database import fetch_frame

ALL_SEASONS = 0  # the season key of the all-seasons figures in curated.feature_quality
DEFAULT_TOLERANCE = 0.05  # absolute completeness drop that is flagged


class FeatureQuality(BaseModel):
    """One feature's completeness, overall and per season."""

    name: str
    family: str
    completeness: float
    by_season: dict[int, float]


class FamilyQuality(BaseModel):
    """One family: completeness overall and per season, its source attribution, how it compares."""

    family: str
    features: int
    completeness: float
    by_season: dict[int, float]
    sources: dict[str, float]  # share of games each source contributed to
    previous: float | None = None  # completeness at the last stored run
    dropped: bool = False


class GameCompleteness(BaseModel):
    """Distribution over games of the share of features present."""

    games: int
    mean: float
    minimum: float
    p10: float
    median: float
    worst: list[tuple[str, float]]


class QualityReport(BaseModel):
    """The whole report; ``flags`` lists every drop in words."""

    feature_set_versions: list[str]
    games: int
    seasons: list[int]
    season_games: dict[int, int]
    families: list[FamilyQuality]
    features: list[FeatureQuality]
    per_game: GameCompleteness
    flags: list[str]


def _attribution(frame: pl.DataFrame, family: Family) -> dict[str, float]:
    """Share of games each source contributed to, for one family."""
    n = max(frame.height, 1)

    def share(expr: pl.Expr) -> float:
        return float(frame.select(expr.cast(pl.Float64).sum()).item() or 0.0) / n

    if family is Family.TEAM:
        return {"results": share(pl.col("src_team_observed_at").is_not_null())}
    if family is Family.PITCHER:
        return {
            "starters": share((pl.col("home_sp_known") == 1) & (pl.col("away_sp_known") == 1)),
            "results": share(pl.col("src_pitcher_observed_at").is_not_null()),
        }
    if family in (Family.PARK, Family.UMPIRE):
        return {"results": share(pl.col(f"src_{family.value}_observed_at").is_not_null())}
    if family is Family.TEMPORAL:
        return {
            "schedule": 1.0 if frame.height else 0.0,
            "day_night": share(pl.col("is_night").is_not_null()),
        }
    column = "market_books" if family is Family.MARKET else "splits_books"
    books = (
        frame.select(pl.col(column).str.split(",").alias("book"))
        .explode("book")
        .drop_nulls()
        .group_by("book")
        .len()
        .sort("book")
    )
    return {row["book"]: row["len"] / n for row in books.iter_rows(named=True)}


def quality_report(
    frame: pl.DataFrame,
    *,
    baseline: dict[str, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> QualityReport:
    """Completeness and attribution of stored (or freshly built) feature rows.

    ``baseline`` maps family -> completeness at an earlier run; a family now lower by more than
    ``tolerance`` is flagged, and so is a family whose latest season is lower than the season
    before by more than ``tolerance``.
    """
    features = registry()
    names = features.names
    seasons = sorted(frame["season"].unique().to_list()) if frame.height else []
    present = frame.select(pl.col(names).is_not_null().cast(pl.Float64)) if frame.height else None
    overall = present.mean().row(0, named=True) if present is not None else dict.fromkeys(names, 0.0)
    per_season = (
        frame.select("season", *[pl.col(n).is_not_null().cast(pl.Float64) for n in names])
        .group_by("season")
        .mean()
        .sort("season")
        if frame.height
        else pl.DataFrame({"season": []})
    )
    season_rows = {row["season"]: row for row in per_season.iter_rows(named=True)}
    feature_rows = [
        FeatureQuality(
            name=f.name,
            family=f.family.value,
            completeness=float(overall[f.name]),
            by_season={s: float(season_rows[s][f.name]) for s in seasons},
        )
        for f in features
    ]
    flags: list[str] = []
    families = []
    for family in Family:
        members = [q for q in feature_rows if q.family == family.value]
        completeness = sum(q.completeness for q in members) / len(members)
        by_season = {s: sum(q.by_season[s] for q in members) / len(members) for s in seasons}
        previous = (baseline or {}).get(family.value)
        dropped = previous is not None and completeness < previous - tolerance
        if dropped:
            flags.append(
                f"{family.value}: completeness {completeness:.1%} is down from {previous:.1%} at the last run"
            )
        if len(seasons) >= 2:
            last, before = seasons[-1], seasons[-2]
            if by_season[last] < by_season[before] - tolerance:
                dropped = True
                flags.append(
                    f"{family.value}: completeness {by_season[last]:.1%} in {last} is down from "
                    f"{by_season[before]:.1%} in {before}"
                )
        families.append(
            FamilyQuality(
                family=family.value,
                features=len(members),
                completeness=completeness,
                by_season=by_season,
                sources=_attribution(frame, family),
                previous=previous,
                dropped=dropped,
            )
        )
    if present is not None:
        per_game = frame.select("game_id").with_columns(share=present.mean_horizontal())
        worst = per_game.sort("share", "game_id").head(5)
        stats = per_game.select(
            pl.col("share").mean().alias("mean"),
            pl.col("share").min().alias("minimum"),
            pl.col("share").quantile(0.1).alias("p10"),
            pl.col("share").median().alias("median"),
        ).row(0, named=True)
        game_summary = GameCompleteness(
            games=frame.height,
            **stats,
            worst=[(r["game_id"], r["share"]) for r in worst.iter_rows(named=True)],
        )
    else:
        game_summary = GameCompleteness(games=0, mean=0.0, minimum=0.0, p10=0.0, median=0.0, worst=[])
    return QualityReport(
        feature_set_versions=sorted(frame["feature_set_version"].unique().to_list()) if frame.height else [],
        games=frame.height,
        seasons=seasons,
        season_games=dict(frame.group_by("season").len().iter_rows()) if frame.height else {},
        families=families,
        features=feature_rows,
        per_game=game_summary,
        flags=flags,
    )


def last_baseline(conn: psycopg.Connection, seasons: list[int] | None = None) -> dict[str, float] | None:
    """Family completeness at the last stored quality run, over ``seasons`` (all when None).

    Per-season figures of that run are combined, weighted by games, over the seasons both runs
    cover, so a run over some seasons is compared with the same seasons of the last run.
    """
    frame = fetch_frame(
        conn,
        "SELECT family, season, games, completeness FROM curated.feature_quality "
        "WHERE season <> %s AND run_at = (SELECT max(run_at) FROM curated.feature_quality)",
        (ALL_SEASONS,),
    )
    if frame.is_empty():
        return None
    if seasons is not None:
        frame = frame.filter(pl.col("season").is_in(seasons))
    if frame.is_empty():
        return None
    combined = frame.group_by("family").agg(
        ((pl.col("completeness") * pl.col("games")).sum() / pl.col("games").sum()).alias("completeness")
    )
    return dict(zip(combined["family"].to_list(), combined["completeness"].to_list(), strict=True))


def store_report(conn: psycopg.Connection, report: QualityReport, run_at: datetime) -> int:
    """Keep this run's family completeness (all seasons and per season) for the next comparison."""
    version = ",".join(report.feature_set_versions)
    rows = [
        {"family": f.family, "season": ALL_SEASONS, "games": report.games, "completeness": f.completeness}
        for f in report.families
    ]
    rows += [
        {
            "family": f.family,
            "season": season,
            "games": report.season_games.get(season, 0),
            "completeness": value,
        }
        for f in report.families
        for season, value in f.by_season.items()
    ]
    frame = pl.DataFrame(rows).with_columns(
        run_at=pl.lit(run_at).cast(pl.Datetime("us", "UTC")), feature_set_version=pl.lit(version)
    )
    return upsert_frame(conn, "curated.feature_quality", frame, key=["run_at", "family", "season"])


def family_description(family: str) -> str:
    """One line on what a family holds."""
    return FAMILY_DESCRIPTIONS[Family(family)]
