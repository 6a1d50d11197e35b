"""``mlbedge features``: list the registry, build, export, check quality, write the docs page."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from mlbedge.cli import store as store_cli
from mlbedge.cli.options import HomeOption, console, fail, settings_for
from mlbedge.features.docs import render_feature_docs
from mlbedge.features.io import build_and_store, export_season, read_features
from mlbedge.features.quality import family_description, last_baseline, quality_report, store_report
from mlbedge.features.registry import Family, registry
from mlbedge.features.validation import LeakageError
from mlbedge.storage.database import connect

app = typer.Typer(help="Point-in-time features: registry, build, export, quality.", no_args_is_help=True)


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def parse_seasons(text: str | None) -> list[int] | None:
    """``2010-2020`` -> 2010..2020, ``2015,2019`` -> [2015, 2019], ``2016`` -> [2016]."""
    if text is None:
        return None
    seasons: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", part)
        if not match:
            raise typer.BadParameter(f"{part!r} is not a season (YYYY) or a range (YYYY-YYYY)")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise typer.BadParameter(f"{part!r}: the range ends before it starts")
        seasons.update(range(first, last + 1))
    return sorted(seasons)


@app.command("list")
def list_features(
    family: Family | None = typer.Option(None, "--family", help="Only this family."),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="table or json."),
    home: Path | None = HomeOption,
) -> None:
    """Every feature in the registry: name, family, type, nullable, sources, description."""
    settings_for(home)
    features = registry().family(family) if family else tuple(registry())
    if fmt is ListFormat.json:
        records = [r for r in registry().as_records() if family is None or r["family"] == family.value]
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    table = Table(title=f"{len(features)} features")
    for column in ("name", "family", "type", "null", "sources", "description"):
        table.add_column(column, overflow="fold")
    for f in features:
        table.add_row(
            f.name, f.family.value, f.dtype, "yes" if f.nullable else "no", ",".join(f.sources), f.description
        )
    console.print(table)


@app.command("build")
def build(
    seasons: str | None = typer.Option(
        None, "--seasons", help="Seasons to build, e.g. 2010-2020 (default: all)."
    ),
    full: bool = typer.Option(False, "--full", help="Rebuild every game of the seasons, not just new ones."),
    parquet: Path | None = typer.Option(
        None, "--parquet-dir", help="Also write Parquet per season here (default: MLBEDGE_HOME/features)."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Compute features for new games (or all with --full) into curated.game_features and Parquet."""
    settings = settings_for(home)
    wanted = parse_seasons(seasons)
    try:
        with connect(settings) as conn:
            report = build_and_store(
                conn, seasons=wanted, full=full, parquet_dir=parquet or settings.home / "features"
            )
    except LeakageError as exc:
        raise fail(f"feature rows rejected at the boundary:\n{exc}") from exc
    if report.games == 0:
        console.print(f"nothing to build: every game already has features of set {report.version}")
        return
    seasons_text = f"{report.seasons[0]}-{report.seasons[-1]}" if report.seasons else "-"
    console.print(
        f"built {report.games:,} games ({seasons_text}), feature set [bold]{report.version}[/] "
        f"({len(registry())} features, cutoff {report.cutoff_minutes} min) in {report.seconds['total']:.2f} s"
    )
    for path in report.parquet:
        console.print(f"  parquet: {path}")


@app.command("export")
def export(
    season: int = typer.Option(..., "--season", help="Season to export."),
    out: Path = typer.Option(..., "--out", help="Parquet file to write.", dir_okay=False),
    home: Path | None = HomeOption,
) -> None:
    """One season's stored features as Parquet: game_id, date, as_of, one column per feature."""
    with connect(settings_for(home)) as conn:
        try:
            rows, version = export_season(conn, season, out)
        except (LookupError, ValueError) as exc:
            raise fail(str(exc)) from exc
    console.print(f"wrote {rows:,} games of {season} (feature set {version}) to {out}")


@app.command("quality")
def quality(
    season: str | None = typer.Option(None, "--seasons", help="Only these seasons, e.g. 2015-2016."),
    tolerance: float = typer.Option(0.05, "--tolerance", help="Completeness drop that is flagged."),
    store: bool = typer.Option(True, "--store/--no-store", help="Keep this run as the next baseline."),
    home: Path | None = HomeOption,
) -> None:
    """Completeness per feature, family and game, source attribution, and flags for drops."""
    with connect(settings_for(home)) as conn:
        frame = read_features(conn, seasons=parse_seasons(season))
        if frame.is_empty():
            raise fail("no stored features; run `mlbedge features build` first")
        seasons_present = sorted(frame["season"].unique().to_list())
        report = quality_report(frame, baseline=last_baseline(conn, seasons_present), tolerance=tolerance)
        if store:
            store_report(conn, report, datetime.now(UTC))
    seasons = report.seasons
    table = Table(title=f"Completeness by family ({report.games:,} games)")
    table.add_column("family")
    table.add_column("features", justify="right")
    table.add_column("all", justify="right")
    table.add_column("last run", justify="right")
    for s in seasons:
        table.add_column(str(s), justify="right")
    table.add_column("sources (share of games)")
    for f in report.families:
        sources = ", ".join(f"{k} {v:.0%}" for k, v in f.sources.items()) or "none"
        table.add_row(
            f"[red]{f.family}[/]" if f.dropped else f.family,
            str(f.features),
            f"{f.completeness:.1%}",
            "-" if f.previous is None else f"{f.previous:.1%}",
            *[f"{f.by_season[s]:.1%}" for s in seasons],
            sources,
        )
    console.print(table)
    for f in report.families:
        console.print(f"  [dim]{f.family}: {family_description(f.family)}[/]")
    least = sorted(report.features, key=lambda q: q.completeness)[:10]
    worst = Table(title="Least complete features")
    for column in ("feature", "family", "completeness"):
        worst.add_column(column)
    for q in least:
        worst.add_row(q.name, q.family, f"{q.completeness:.1%}")
    console.print(worst)
    g = report.per_game
    console.print(
        f"per game: mean {g.mean:.1%}, median {g.median:.1%}, p10 {g.p10:.1%}, min {g.minimum:.1%}; "
        "least complete: " + ", ".join(f"{gid} {share:.0%}" for gid, share in g.worst)
    )
    if report.flags:
        for flag in report.flags:
            console.print(f"[bold yellow]flag:[/] {flag}")
    else:
        console.print("no family's completeness dropped")


@app.command("docs")
def docs(
    out: Path | None = typer.Option(None, "--out", help="Write the page here (default: print it)."),
    home: Path | None = HomeOption,
) -> None:
    """The features page (docs/features.md), generated from the registry."""
    settings_for(home)
    text = render_feature_docs()
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    console.print(f"wrote {out} ({len(registry())} features)")


# `mlbedge features materialize` lives with the online store (mlbedge.cli.store).
app.command("materialize")(store_cli.materialize)
