"""``mlbedge ingest``: collect the live sources (one pass or a poll loop), re-parse raw, status."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import typer
from rich.table import Table

from mlbedge import ingest as live
from mlbedge.cli.options import HomeOption, NowOption, console, fail, parse_now, settings_for
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings
from mlbedge.storage.database import connect

app = typer.Typer(
    help="Live sources (MLB Stats API, Action Network, VSIN, SBD): fetch, keep raw, parse, link.",
    no_args_is_help=True,
)

SourcesOption = typer.Option(
    None, "--sources", help=f"Comma-separated subset of: {', '.join(live.SOURCES)} (default all)."
)


@contextmanager
def _database(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection, or a clear error (no traceback) when PostgreSQL cannot be reached."""
    try:
        with connect(settings) as conn:
            yield conn
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"PostgreSQL unreachable: {first}") from None


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--date/--since wants YYYY-MM-DD, got {value!r}") from None


def _sources(value: str | None) -> list[str]:
    try:
        return live.parse_sources(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


def print_run(report: live.RunReport) -> None:
    """Per source: requests, successes, errors; then what was stored, parsed and linked."""
    table = Table(title=f"Ingest pass for {report.day}")
    for column in ("source", "requests", "ok", "errors", "blocked"):
        table.add_column(column, justify="left" if column in {"source", "errors"} else "right")
    for s in report.sources.values():
        table.add_row(
            s.source, str(s.requests), str(s.ok), "\n".join(s.errors[:5]), "yes" if s.blocked else ""
        )
    console.print(table)
    written = ", ".join(f"{k}={v}" for k, v in sorted(report.written.items()) if v) or "nothing new"
    console.print(
        f"stored {report.stored} raw, spooled {report.spooled}, flushed {report.flushed_from_spool} from spool; "
        f"parsed {report.parsed} ({report.parse_failures} failed, {report.quarantined} items quarantined); "
        f"written: {written}; games linked {report.matched}, not linked {len(report.unmatched)}"
    )
    for game in report.unmatched[:50]:
        console.print(f"  [yellow]{game.match_status}[/] {game.source} {game.source_game_key}: {game.note}")
    if not report.database_ok:
        console.print(f"[red]database:[/] {report.database_error} (fetches kept in the spool)")


@app.command("run")
def run_cmd(
    day: str | None = typer.Option(None, "--date", help="MLB day YYYY-MM-DD (default today, Eastern)."),
    sources: str | None = SourcesOption,
    now: str | None = NowOption,
    home: Path | None = HomeOption,
) -> None:
    """One pass: fetch every source, keep each response raw, parse it, link games to gamePk."""
    settings = settings_for(home)
    report = live.run(settings, day=_day(day), sources=_sources(sources), now=parse_now(now))
    print_run(report)
    if report.every_source_failed:
        raise fail(f"every source failed this pass ({', '.join(report.sources)}): nothing usable fetched")


@app.command("backfill")
def backfill_cmd(
    season: int = typer.Option(
        ..., "--season", min=1876, max=2999, help="The season whose results to fetch."
    ),
    through: str | None = typer.Option(
        None, "--through", help="Last day YYYY-MM-DD (default yesterday, Eastern, or the season's end)."
    ),
    refetch: bool = typer.Option(False, "--refetch", help="Ask again for days already stored."),
    now: str | None = NowOption,
    home: Path | None = HomeOption,
) -> None:
    """The season's schedule with scores from the MLB Stats API: stored raw, parsed into
    staging.results, linked into curated.games (form, Elo and pitchers' records current)."""
    settings = settings_for(home)
    report = live.backfill(
        settings, season=season, through=_day(through), refetch=refetch, now=parse_now(now)
    )
    for error in report.errors:
        console.print(f"  [red]{error}[/]")
    if not report.database_ok:
        raise fail(f"database: {report.database_error}")
    with connect(settings) as conn:
        link = rebuild_games(conn, settings.cutoff_minutes)
    linked = sum(s.live for s in link.seasons if s.season == season)
    written = ", ".join(f"{k}={v}" for k, v in sorted(report.written.items()) if v) or "nothing new"
    console.print(
        f"backfill {report.season} ({report.start}..{report.end}): {report.requests} request(s), "
        f"{report.ok} ok; parsed {report.parsed}; written: {written}; "
        f"final games stored {report.finals}; live games in curated.games {linked}"
    )
    if report.errors:
        raise typer.Exit(1)


@app.command("poll")
def poll_cmd(
    every: str | None = typer.Option(
        None, "--every", help="Time between passes: 15m, 1h, 90s, 1h30m (default: the setting, 15m)."
    ),
    sources: str | None = SourcesOption,
    cycles: int | None = typer.Option(None, "--cycles", min=1, help="Stop after this many passes."),
    home: Path | None = HomeOption,
) -> None:
    """Run a pass every --every until stopped (Ctrl-C); survives sources and the database going down."""
    settings = settings_for(home)
    try:
        interval = live.parse_every(every) if every else timedelta(minutes=settings.ingest_poll_minutes)
    except ValueError as exc:
        raise fail(str(exc)) from None
    names = _sources(sources)
    stop = threading.Event()

    def report(r: live.RunReport) -> None:
        ok = sum(s.ok for s in r.sources.values())
        requests = sum(s.requests for s in r.sources.values())
        console.print(
            f"{datetime.now().isoformat(timespec='seconds')} pass for {r.day}: {ok}/{requests} requests ok, "
            f"stored {r.stored}, spooled {r.spooled}, parsed {r.parsed}, linked {r.matched}, "
            f"not linked {len(r.unmatched)}" + ("" if r.database_ok else f" [red]{r.database_error}[/]")
        )

    console.print(f"polling {', '.join(names)} every {interval} (Ctrl-C stops)")
    try:
        live.poll(settings, every=interval, sources=names, stop=stop, max_cycles=cycles, on_cycle=report)
    except KeyboardInterrupt:
        stop.set()
        console.print("stopped")


@app.command("reparse")
def reparse_cmd(
    since: str = typer.Option(
        ..., "--since", help="Re-derive staging from raw fetched since YYYY-MM-DD (UTC)."
    ),
    sources: str | None = SourcesOption,
    home: Path | None = HomeOption,
) -> None:
    """Re-parse stored raw payloads (after a parser fix); idempotent."""
    settings = settings_for(home)
    day = _day(since) or date.today()  # --since is required, so _day always returns a date here
    with _database(settings) as conn:
        result = live.reparse(
            conn,
            since=day,
            sources=_sources(sources),
            tolerance=timedelta(hours=settings.match_tolerance_hours),
        )
    written = ", ".join(f"{k}={v}" for k, v in sorted(result.written.items()) if v) or "nothing"
    console.print(
        f"re-parsed {result.parsed}/{result.fetches} fetches since {result.since} ({result.failures} failed, "
        f"{result.quarantined} items quarantined); written: {written}; "
        f"games linked {result.matched}, not linked {result.unmatched}"
    )


@app.command("status")
def status_cmd(home: Path | None = HomeOption) -> None:
    """Last success per source, counts, errors in the last 24 h, spool and parse backlog."""
    settings = settings_for(home)
    with _database(settings) as conn:
        result = live.status(conn, settings)
    table = Table(title="Live sources")
    columns = (
        "source",
        "last success",
        "fetches",
        "24h",
        "errors 24h",
        "parse failed",
        "odds",
        "splits",
        "games",
        "unlinked",
        "last error",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in {"source", "last success", "last error"} else "right"
        )
    for s in result.sources:
        table.add_row(
            s.source,
            s.last_success.isoformat(timespec="seconds") if s.last_success else "never",
            str(s.fetches),
            str(s.fetches_24h),
            str(s.errors_24h),
            str(s.parse_failures),
            str(s.odds_quotes),
            str(s.splits),
            str(s.games),
            str(s.unmatched_games),
            (s.last_error or "")[:80],
        )
    console.print(table)
    console.print(
        f"spooled (waiting for the database): {result.spooled}; waiting to be parsed: {result.pending_parse}"
    )
