"""``mlbedge data``: load historical files, link them into games, print the games."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from mlbedge.cli.options import HomeOption, console, fail, settings_for
from mlbedge.games.link import LinkReport, rebuild_games
from mlbedge.games.query import games_frame
from mlbedge.sources.historical.common import (
    DataFileError,
    LoadSummary,
    load_failed,
    load_lock,
    quarantined_rows,
)
from mlbedge.sources.historical.lahman import load_lahman
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.retrosplits import load_retrosplits_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.database import connect

app = typer.Typer(help="Historical data: load files, link games, print them.", no_args_is_help=True)
load_app = typer.Typer(help="Load historical files into PostgreSQL (idempotent).", no_args_is_help=True)
app.add_typer(load_app, name="load")


class OutputFormat(StrEnum):
    csv = "csv"
    json = "json"


FilesArgument = typer.Argument(..., exists=True, dir_okay=False, readable=True)


def print_summaries(summaries: list[LoadSummary]) -> None:
    """One line per file: what was read, stored and quarantined; then the flags raised and
    why any file was not loaded whole."""
    table = Table(title="Loaded")
    for column in ("source", "file", "status", "rows", "records", "written", "quarantined"):
        table.add_column(
            column, justify="left" if column in {"source", "file", "status"} else "right", no_wrap=True
        )
    colour = {"loaded": "green", "partial": "yellow", "failed": "red"}
    for s in summaries:
        table.add_row(
            s.source,
            s.file_name,
            f"[{colour[s.status]}]{s.status}[/]",
            f"{s.rows_read:,}",
            f"{s.records:,}",
            f"{s.written:,}",
            f"{s.quarantined:,}",
        )
    console.print(table)
    for s in summaries:
        if s.flags:
            console.print(f"  {s.file_name}: " + ", ".join(f"{k}={v}" for k, v in s.flags.items()))
    for s in summaries:
        if s.error:
            console.print(f"[red]{s.status}:[/] {escape(s.error)}", soft_wrap=True)
    quarantined = sum(s.quarantined for s in summaries)
    if quarantined:
        console.print(
            f"[yellow]{quarantined:,} rows quarantined[/] with file, row and reason "
            "(`mlbedge data quarantine` lists them)."
        )


def print_link_report(report: LinkReport) -> None:
    """Per season: games, and how many link across sources; then the mismatches."""
    table = Table(title="Games linked across sources")
    for column in (
        "season",
        "games",
        "postseason",
        "sbro",
        "retrosheet",
        "pinnacle",
        "sbro+retro",
        "sbro+pinnacle",
        "live",
        "mismatches",
    ):
        table.add_column(column, justify="right")
    for row in report.seasons:
        table.add_row(*(str(v) for v in row.model_dump().values()))
    console.print(table)
    if report.mismatches:
        console.print(
            f"[yellow]{len(report.mismatches)} mismatches between sources[/] "
            "(`mlbedge data link-report` lists them)"
        )


def _load(run, home: Path | None) -> None:  # type: ignore[no-untyped-def]
    """Load under the load lock (each file in its own transaction), rebuild the games, report.

    Exits 1 naming every file not loaded whole (or when nothing at all was loaded); the files
    that did load stay loaded.
    """
    settings = settings_for(home)
    try:
        with (
            connect(settings) as conn,
            Progress(console=console, transient=True) as progress,
            load_lock(conn),
        ):
            summaries = run(conn, progress)
            report = rebuild_games(conn)
            conn.commit()  # before the lock goes, so the next load sees these games
    except DataFileError as exc:
        raise fail(str(exc)) from exc
    print_summaries(summaries)
    print_link_report(report)
    failed = load_failed(summaries)
    if failed:
        raise fail(
            f"{len(failed)} of {len(summaries)} file(s) not loaded whole: "
            + ", ".join(f"{s.file_name} ({s.status})" for s in failed)
        )


@app.command("quarantine")
def quarantine(
    source: str | None = typer.Option(
        None, "--source", help="Only this source (sbro, pinnacle, retrosheet, ...)."
    ),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many rows."),
    fmt: OutputFormat | None = typer.Option(None, "--format", help="csv or json instead of a table."),
    home: Path | None = HomeOption,
) -> None:
    """Rows that could not be loaded: source, file, row, reason and the row as read."""
    with connect(settings_for(home)) as conn:
        frame = quarantined_rows(conn, source, limit)
    if fmt is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
        return
    if fmt is OutputFormat.json:
        sys.stdout.write(frame.write_json() + "\n")
        return
    table = Table(title=f"Quarantined rows ({frame.height:,} shown)")
    for column in ("source", "file", "row", "reason", "raw row"):
        table.add_column(column, justify="right" if column == "row" else "left")
    for row in frame.iter_rows(named=True):
        raw_row = row["raw_row"] if len(row["raw_row"]) <= 80 else row["raw_row"][:77] + "..."
        table.add_row(
            row["source"], row["file_name"], str(row["row_number"]), escape(row["reason"]), escape(raw_row)
        )
    console.print(table)


@load_app.command("sbro")
def load_sbro(files: list[Path] = FilesArgument, home: Path | None = HomeOption) -> None:
    """SBRO season files (two rows per game, visitor then home)."""
    _load(lambda conn, progress: load_sbro_files(conn, files, progress=progress), home)


@load_app.command("pinnacle")
def load_pinnacle_cmd(
    games: Path = typer.Argument(..., exists=True, dir_okay=False, help="pinnacle games CSV"),
    lines: Path = typer.Argument(..., exists=True, dir_okay=False, help="line snapshots CSV(.gz)"),
    home: Path | None = HomeOption,
) -> None:
    """Pinnacle 2016: games with corrected start times and every line snapshot."""
    _load(lambda conn, progress: load_pinnacle(conn, games, lines, progress=progress), home)


@load_app.command("retrosheet")
def load_retrosheet(files: list[Path] = FilesArgument, home: Path | None = HomeOption) -> None:
    """Retrosheet game logs (GLYYYY.TXT, 161 fields)."""
    _load(lambda conn, progress: load_retrosheet_files(conn, files, progress=progress), home)


@load_app.command("lahman")
def load_lahman_cmd(
    directory: Path = typer.Argument(..., exists=True, file_okay=False, help="folder with the Lahman CSVs"),
    home: Path | None = HomeOption,
) -> None:
    """Lahman season tables: People.csv, Teams.csv, Batting.csv, Pitching.csv (any subset present)."""
    _load(lambda conn, progress: load_lahman(conn, directory, progress=progress), home)


@load_app.command("retrosplits")
def load_retrosplits(files: list[Path] = FilesArgument, home: Path | None = HomeOption) -> None:
    """retrosplits teams-YYYY.csv (team games) and pitching-platoon-YYYY.csv (told apart by header)."""
    _load(lambda conn, progress: load_retrosplits_files(conn, files, progress=progress), home)


@app.command("download")
def download(
    seasons: str = typer.Option(
        ..., "--seasons", help="Seasons to fetch: 2019, 2015-2019 or 2015,2017-2018."
    ),
    sources: str = typer.Option("sbro,retrosheet", "--sources", help="Archives: sbro, retrosheet or both."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", file_okay=False, help="Where to put them (default: the data folder setting)."
    ),
    force: bool = typer.Option(False, "--force", help="Fetch again even when the checksums match."),
    home: Path | None = HomeOption,
) -> None:
    """Fetch the public archives (SBRO season workbooks, Retrosheet game logs) into the data folder."""
    from mlbedge.sources.historical import download as dl

    settings = settings_for(home)
    try:
        wanted = dl.parse_seasons(seasons)
        chosen = [s.strip() for s in sources.split(",") if s.strip()]
        dl.archives(wanted, settings=settings, sources=chosen)  # type: ignore[arg-type]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    target = data_dir or settings.data_dir
    console.print(f"Downloading {', '.join(chosen)} for {len(wanted)} season(s) into {target}")
    try:
        report = dl.download_archives(
            wanted,
            data_dir=target,
            settings=settings,
            sources=chosen,  # type: ignore[arg-type]
            force=force,
            on_result=lambda r: console.print(
                f"  {r.archive.source} {r.archive.season}: {r.status}"
                + (f" ({r.size_bytes:,} bytes)" if r.status != "failed" else f": {r.error}")
            ),
        )
    except dl.DownloadError as exc:
        raise fail(str(exc)) from exc
    table = Table(title="Archives")
    for column in ("source", "season", "file", "status", "bytes", "sha256"):
        table.add_column(column, justify="right" if column in {"season", "bytes"} else "left", no_wrap=True)
    for r in report.results:
        table.add_row(
            r.archive.source,
            str(r.archive.season),
            ", ".join([r.archive.path.as_posix(), *(e["path"] for e in r.extracted)]),
            r.status,
            f"{r.size_bytes:,}" if r.sha256 else "",
            (r.sha256 or "")[:16],
        )
    console.print(table)
    console.print(f"Checksums recorded in {report.manifest}")
    if any(r.archive.source == "retrosheet" and r.status != "failed" for r in report.results):
        console.print(
            "[dim]The information used here was obtained free of charge from and is copyrighted by "
            'Retrosheet. Interested parties may contact Retrosheet at "www.retrosheet.org".[/]'
        )
    if any(r.archive.source == "sbro" and r.status != "failed" for r in report.results):
        console.print("[dim]SBRO data: Source: sportsbookreviewsonline.com (no licence stated).[/]")
    if report.failed:
        raise fail(
            f"{len(report.failed)} archive(s) could not be downloaded: "
            + "; ".join(r.error or "" for r in report.failed)
        )
    console.print("Load them with `mlbedge data load sbro ...` and `mlbedge data load retrosheet ...`.")


@app.command("games")
def games(
    season: int = typer.Option(..., "--season", help="Season to print."),
    fmt: OutputFormat = typer.Option(OutputFormat.csv, "--format", help="csv or json."),
    home: Path | None = HomeOption,
) -> None:
    """One row per unified game: teams, scores, opening and closing lines, flags."""
    with connect(settings_for(home)) as conn:
        frame = games_frame(conn, season)
    if frame.is_empty():
        raise fail(f"no games for season {season}; load files with `mlbedge data load` first")
    if fmt is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
    else:
        sys.stdout.write(frame.write_json())
        sys.stdout.write("\n")


@app.command("link-report")
def link_report(
    season: int | None = typer.Option(None, "--season", help="Only this season's mismatches."),
    home: Path | None = HomeOption,
) -> None:
    """How the sources link per season, and every mismatch between them."""
    with connect(settings_for(home)) as conn:
        report = rebuild_games(conn)
    print_link_report(report)
    table = Table(title="Mismatches")
    for column in ("game_id", "kind", "detail"):
        table.add_column(column)
    for m in report.mismatches:
        if season is None or m.game_id.startswith(str(season)):
            table.add_row(m.game_id, m.kind, m.detail)
    console.print(table)
