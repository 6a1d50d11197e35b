"""Live ingestion: one pass over the sources (``run``), a loop of passes (``poll``), re-deriving
staging from raw (``reparse``) and what happened lately (``status``).

A pass, per source: make the requests (politely, see :mod:`mlbedge.sources.http`), store every
response raw at once, every retried attempt included (or spool it to ``MLBEDGE_HOME/spool`` when
PostgreSQL is away), then parse what was stored, reading it back from ``raw``, write the staging
snapshots, and link the games to MLB ``gamePk``. The sources are fetched concurrently, each within
its time budget (``http_source_budget_seconds``), so one stalled source delays nothing else and
a pass ends in about one budget. A source that fails, times out or blocks the client is reported
and the other sources go on; a database that goes away loses nothing fetched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import psycopg
from pydantic import BaseModel, Field

from mlbedge.settings import Settings
from mlbedge.sources import action_network, mlb_stats, sbd, vsin
from mlbedge.sources.http import FetchResult, PoliteClient, Request, clock_at, utcnow
from mlbedge.sources.matching import link_games
from mlbedge.sources.raw_store import Spool, fetch_ids, load_fetches, mark_parsed, store_fetch
from mlbedge.sources.snapshots import (
    FetchMeta,
    ParsedPayload,
    QuarantinedItem,
    SourceParseError,
    delete_derived,
    write_parsed,
)
from mlbedge.storage.database import database_url, fetch_frame
from mlbedge.storage.migrations import migrate

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("mlb_stats", "action_network", "vsin", "sbd")
PARSERS: dict[tuple[str, str], Callable[[bytes, FetchMeta], ParsedPayload]] = {
    **{("mlb_stats", k): v for k, v in mlb_stats.PARSERS.items()},
    **{("action_network", k): v for k, v in action_network.PARSERS.items()},
    **{("vsin", k): v for k, v in vsin.PARSERS.items()},
    **{("sbd", k): v for k, v in sbd.PARSERS.items()},
}
SLATE_ZONE = ZoneInfo("America/New_York")  # MLB's day: official dates are US local dates
_DB_DOWN = (psycopg.OperationalError, psycopg.InterfaceError)


def slate_day(now: datetime) -> date:
    """The MLB day ``now`` falls in (Eastern time)."""
    return now.astimezone(SLATE_ZONE).date()


def parse_sources(value: str | Sequence[str] | None) -> list[str]:
    """``"mlb_stats,sbd"`` (or a list) as validated source names; None or empty means all."""
    if value is None:
        return list(SOURCES)
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    return [s for s in SOURCES if s in names] or list(SOURCES)


# ---- reports -----------------------------------------------------------------------------


class SourceReport(BaseModel):
    """What one source did in a pass."""

    source: str
    requests: int = 0
    ok: int = 0
    errors: list[str] = Field(default_factory=list)
    blocked: bool = False


class UnmatchedGame(BaseModel):
    """A source game with no ``gamePk`` (kept in staging, reported here)."""

    source: str
    source_game_key: str
    match_status: str
    note: str | None = None


class RunReport(BaseModel):
    """One pass: requests per source, what was stored, parsed, written, quarantined and linked."""

    @property
    def every_source_failed(self) -> bool:
        """No source got a single usable response this pass."""
        return bool(self.sources) and all(s.ok == 0 for s in self.sources.values())

    day: date
    started_at: datetime
    finished_at: datetime | None = None
    sources: dict[str, SourceReport] = Field(default_factory=dict)
    stored: int = 0
    spooled: int = 0
    flushed_from_spool: int = 0
    parsed: int = 0
    parse_failures: int = 0
    written: dict[str, int] = Field(default_factory=dict)
    quarantined: int = 0
    matched: int = 0
    unmatched: list[UnmatchedGame] = Field(default_factory=list)
    database_ok: bool = True
    database_error: str | None = None


class ParseSummary(BaseModel):
    """What parsing a set of stored fetches did."""

    fetches: int = 0
    parsed: int = 0
    failures: int = 0
    written: dict[str, int] = Field(default_factory=dict)
    quarantined: int = 0
    interrupted: bool = False


# ---- the raw sink: database first, spool when it is away ----------------------------------


class RawSink:
    """Stores fetches raw: in PostgreSQL when reachable, else in the spool (flushed when back)."""

    def __init__(self, settings: Settings, *, connect_timeout: float = 5.0) -> None:
        self.settings = settings
        self.spool = Spool(settings.home / "spool")
        self.conn: psycopg.Connection | None = None
        self.error: str | None = None
        self.flushed: list[uuid.UUID] = []
        self.stored: list[uuid.UUID] = []
        self.spooled = 0
        self._connect_timeout = connect_timeout
        # The sources of a pass run in threads and share this one connection: one use at a time.
        self.lock = threading.RLock()

    def open(self) -> bool:
        """Connect (migrating the schema) and flush any spooled fetches; False when unreachable."""
        try:
            conn = psycopg.connect(
                database_url(self.settings),
                autocommit=False,
                connect_timeout=max(1, int(self._connect_timeout)),
            )
            migrate(conn)
            conn.commit()
            self.conn = conn
            self.flushed = self.spool.flush(conn)
        except _DB_DOWN as exc:
            self.mark_down(exc)
            return False
        return True

    def mark_down(self, exc: BaseException) -> None:
        """The database went away: close what is left and spool from now on (this pass)."""
        self.error = f"PostgreSQL unreachable: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        log.warning("%s; fetches go to %s", self.error, self.spool.folder)
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
        self.conn = None

    def put(self, result: FetchResult) -> None:
        """Keep one fetch, before anything parses it."""
        with self.lock:
            if self.conn is not None:
                try:
                    store_fetch(self.conn, result)
                    self.conn.commit()
                    self.stored.append(result.fetch_id)
                    return
                except _DB_DOWN as exc:
                    self.mark_down(exc)
            self.spool.put(result)
            self.spooled += 1

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


# ---- parsing stored fetches ---------------------------------------------------------------


def parse_payload(meta: FetchMeta, body: bytes) -> ParsedPayload:
    """Dispatch to the parser of ``meta.source``/``meta.endpoint``."""
    parser = PARSERS.get((meta.source, meta.endpoint))
    if parser is None:
        raise SourceParseError(meta.endpoint, f"no parser for {meta.source} endpoint {meta.endpoint!r}")
    return parser(body, meta)


def parse_stored(
    conn: psycopg.Connection, ids: Sequence[uuid.UUID], *, replace: bool = False
) -> ParseSummary:
    """Parse these stored fetches (read back from ``raw``) into staging, one transaction each.

    With ``replace`` the rows each fetch produced before are deleted first (a re-parse after a
    parser fix). A fetch that does not parse is marked ``failed`` with the reason and quarantined
    whole; one with quarantined items is ``partial``. Stops (``interrupted``) if the database goes.
    """
    summary = ParseSummary()
    for stored in load_fetches(conn, ids):
        summary.fetches += 1
        meta = stored.meta
        try:
            if replace:
                delete_derived(conn, [meta.fetch_id])
            try:
                parsed = parse_payload(meta, stored.body or b"")
            except SourceParseError as exc:
                quarantine = QuarantinedItem(
                    "*", str(exc), (stored.body or b"")[:2000].decode("utf-8", "replace")
                )
                write_parsed(conn, meta.fetch_id, ParsedPayload(quarantine=[quarantine]))
                mark_parsed(conn, meta.fetch_id, "failed", str(exc))
                conn.commit()
                summary.failures += 1
                summary.quarantined += 1
                continue
            written = write_parsed(conn, meta.fetch_id, parsed)
            status = "partial" if parsed.quarantine else "parsed"
            error = f"{len(parsed.quarantine)} item(s) quarantined" if parsed.quarantine else None
            mark_parsed(conn, meta.fetch_id, status, error)
            conn.commit()
        except _DB_DOWN:
            summary.interrupted = True
            raise
        except psycopg.Error as exc:  # a row the schema refuses: the fetch fails, the pass goes on
            conn.rollback()
            mark_parsed(conn, meta.fetch_id, "failed", f"staging write refused: {exc}".strip()[:2000])
            conn.commit()
            summary.failures += 1
            continue
        summary.parsed += 1
        summary.quarantined += len(parsed.quarantine)
        for table, count in written.items():
            if table != "payload_quarantine":
                summary.written[table] = summary.written.get(table, 0) + count
    return summary


# ---- one pass ------------------------------------------------------------------------------


@dataclass
class _Pass:
    """The state of one pass: the client, the sink, the clock and the per-source reports."""

    settings: Settings
    client: PoliteClient
    sink: RawSink
    clock: Callable[[], datetime]
    day: date
    reports: dict[str, SourceReport] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)
    deadlines: dict[str, float] = field(default_factory=dict)

    def fetch(self, request: Request) -> FetchResult | None:
        """Make one request, store it raw at once (and every retried attempt before it); None if
        the source already blocked us this pass or its time budget is spent."""
        report = self.reports.setdefault(request.source, SourceReport(source=request.source))
        if request.source in self.stopped:
            return None
        deadline = self.deadlines.get(request.source)
        if deadline is not None and time.monotonic() >= deadline:
            report.errors.append(
                f"{request.endpoint} {request.url}: not requested, the source's "
                f"{self.settings.http_source_budget_seconds:g} s budget for this pass is spent"
            )
            return None
        result = self.client.fetch(request, deadline=deadline, on_attempt=self.sink.put)
        self.sink.put(result)
        report.requests += 1
        if result.ok:
            report.ok += 1
        else:
            report.errors.append(f"{request.endpoint} {request.url}: {result.error}")
            if result.error_kind == "blocked":
                # After a 403 the rest of this source waits for the next pass (politeness).
                report.blocked = True
                self.stopped.add(request.source)
        return result

    def peek(self, result: FetchResult | None) -> ParsedPayload | None:
        """Parse a fresh response in memory to plan follow-up requests (never stored from here)."""
        if result is None or not result.ok or not result.body:
            return None
        meta = FetchMeta(
            result.fetch_id,
            result.request.source,
            result.request.endpoint,
            result.fetched_at,
            result.request.url,
            dict(result.request.params),
            dict(result.request.context),
        )
        try:
            return parse_payload(meta, result.body)
        except SourceParseError:
            return None

    def query(self, sql: str, params: Sequence[Any]) -> pl.DataFrame | None:
        """A read for planning; None when the database is away (plan without it)."""
        with self.sink.lock:
            if self.sink.conn is None:
                return None
            try:
                frame = fetch_frame(self.sink.conn, sql, params)
                self.sink.conn.commit()
                return frame
            except _DB_DOWN as exc:
                self.sink.mark_down(exc)
                return None


def _plan_mlb_stats(p: _Pass) -> None:
    s = p.settings
    schedule = p.fetch(mlb_stats.schedule_request(s, p.day - timedelta(days=1), p.day + timedelta(days=1)))
    p.fetch(mlb_stats.standings_request(s, p.day.year, p.day - timedelta(days=1)))
    p.fetch(mlb_stats.teams_request(s, p.day.year))
    parsed = p.peek(schedule)
    if parsed is None:
        return
    # Yesterday's finished games: their live feed holds the final score and the actual starters.
    finals = mlb_stats.final_game_pks(parsed, p.day - timedelta(days=1))
    have = p.query(
        "SELECT DISTINCT game_pk FROM staging.results WHERE origin = 'feed_live' AND is_final "
        "AND game_pk = ANY(%s)",
        (finals,),
    )
    done = set(have.get_column("game_pk").to_list()) if have is not None and not have.is_empty() else set()
    for game_pk in [g for g in finals if g not in done][: s.mlb_feed_live_max_per_run]:
        p.fetch(mlb_stats.feed_live_request(s, game_pk))
    if s.mlb_backfill_auto and p.sink.conn is not None:
        # The season's earlier days whose finals were never fetched (yesterday is asked above).
        before = p.day - timedelta(days=1)
        for start, end in backfill_ranges(
            p.sink.conn, season_start(s, p.day.year), before - timedelta(days=1), s.mlb_backfill_chunk_days
        ):
            p.fetch(mlb_stats.schedule_request(s, start, end))


def _plan_action_network(p: _Pass) -> None:
    s = p.settings
    board = p.fetch(action_network.scoreboard_request(s, p.day))
    parsed = p.peek(board)
    if parsed is None or board is None:
        return
    games = parsed.frame("source_games")
    # A game's line history is complete for pre-game purposes once it has started: one request
    # per game per day gives every price change with its time.
    started = games.filter(pl.col("start_time") <= board.fetched_at)
    keys = started.get_column("source_game_key").to_list()
    have = p.query(
        "SELECT DISTINCT context->>'event_id' AS event_id FROM raw.fetches WHERE source = 'action_network' "
        "AND endpoint = 'history' AND http_status = 200 AND context->>'event_id' = ANY(%s)",
        (keys,),
    )
    done = set(have.get_column("event_id").to_list()) if have is not None and not have.is_empty() else set()
    todo = started.filter(~pl.col("source_game_key").is_in(list(done))).head(
        s.action_network_history_max_per_run
    )
    for row in todo.iter_rows(named=True):  # a handful of games: one request each
        p.fetch(
            action_network.history_request(
                s, int(row["source_game_key"]), row["start_time"], row["away_team_id"], row["home_team_id"]
            )
        )


def _plan_vsin(p: _Pass) -> None:
    for book in [b.strip() for b in p.settings.vsin_books.split(",") if b.strip()]:
        for view in ("today", "tomorrow"):
            p.fetch(vsin.splits_request(p.settings, book, view))


def _plan_sbd(p: _Pass) -> None:
    p.fetch(sbd.odds_request(p.settings))
    p.fetch(sbd.splits_request(p.settings))


PLANS: dict[str, Callable[[_Pass], None]] = {
    "mlb_stats": _plan_mlb_stats,
    "action_network": _plan_action_network,
    "vsin": _plan_vsin,
    "sbd": _plan_sbd,
}


def _finish(sink: RawSink, report: RunReport, settings: Settings, since: datetime) -> None:
    """Parse what is pending (this pass and any earlier leftovers), then link the games."""
    conn = sink.conn
    if conn is None:
        return
    try:
        pending = fetch_ids(conn, pending_only=True)
        summary = parse_stored(conn, pending)
        report.parsed = summary.parsed
        report.parse_failures = summary.failures
        report.written = summary.written
        report.quarantined = summary.quarantined
        matches = link_games(conn, since=since, tolerance=timedelta(hours=settings.match_tolerance_hours))
        conn.commit()
    except _DB_DOWN as exc:
        sink.mark_down(exc)
        report.database_ok = False
        report.database_error = sink.error
        return
    report.matched = matches.filter(pl.col("match_status") == "matched").height
    report.unmatched = [
        UnmatchedGame(source=r[0], source_game_key=r[1], match_status=r[2], note=r[3])
        for r in matches.filter(pl.col("match_status") != "matched")
        .select("source", "source_game_key", "match_status", "match_note")
        .sort("source", "source_game_key")
        .rows()
    ]


def run(
    settings: Settings,
    *,
    day: date | None = None,
    sources: str | Sequence[str] | None = None,
    client: PoliteClient | None = None,
    clock: Callable[[], datetime] | None = None,
    now: datetime | None = None,
) -> RunReport:
    """One pass over ``sources`` (default all) for MLB day ``day`` (default today, Eastern).

    ``clock`` stamps every fetch (default: the real UTC clock); ``now`` replays the pass as if
    made at that moment (:class:`mlbedge.sources.http.ReplayClock`). Nothing here raises for a
    source being down or the database being away: the report says what happened.
    """
    clock = clock or clock_at(now)
    started = clock()
    day = day or slate_day(started)
    names = parse_sources(sources)
    own_client = client is None
    client = client or PoliteClient.from_settings(settings, clock=clock)
    sink = RawSink(settings)
    report = RunReport(day=day, started_at=started)
    try:
        sink.open()
        report.flushed_from_spool = len(sink.flushed)
        this_pass = _Pass(settings, client, sink, clock, day)
        budget_end = time.monotonic() + settings.http_source_budget_seconds
        this_pass.deadlines = dict.fromkeys(names, budget_end)
        for name in names:
            this_pass.reports.setdefault(name, SourceReport(source=name))

        def plan(name: str) -> None:
            try:
                PLANS[name](this_pass)
            except Exception as exc:  # a planning bug must not stop the other sources
                log.exception("planning %s failed", name)
                this_pass.reports[name].errors.append(f"pass failed: {exc}")

        # Concurrently: a stalled source costs its own budget, not the others' time.
        with ThreadPoolExecutor(max_workers=max(1, len(names)), thread_name_prefix="ingest") as pool:
            list(pool.map(plan, names))
        report.sources = {n: this_pass.reports.get(n, SourceReport(source=n)) for n in names}
        # Everything seen since a day before this pass is re-linked (cheap, and it picks up
        # source games whose MLB schedule arrived later).
        _finish(sink, report, settings, since=started - timedelta(days=1))
    finally:
        report.stored = len(sink.stored)
        report.spooled = sink.spooled
        if sink.error is not None:
            report.database_ok = False
            report.database_error = sink.error
        sink.close()
        if own_client:
            client.close()
        report.finished_at = clock()
    return report


def poll(
    settings: Settings,
    *,
    every: timedelta,
    sources: str | Sequence[str] | None = None,
    client: PoliteClient | None = None,
    clock: Callable[[], datetime] | None = None,
    stop: threading.Event | None = None,
    max_cycles: int | None = None,
    on_cycle: Callable[[RunReport], None] | None = None,
    wait: Callable[[float], None] | None = None,
) -> list[RunReport]:
    """Run a pass every ``every`` until ``stop`` is set (or ``max_cycles`` passes).

    Each pass takes the day anew, so a poll left running follows the season day by day. A pass
    that fails outright is logged and the loop goes on; fetches made while PostgreSQL was away
    are spooled and stored by the next pass that reaches it.
    """
    stop = stop or threading.Event()
    own_client = client is None
    client = client or PoliteClient.from_settings(settings, clock=clock or utcnow)
    reports: list[RunReport] = []
    try:
        while not stop.is_set():
            began = time.monotonic()
            try:
                report = run(settings, sources=sources, client=client, clock=clock)
            except Exception as exc:  # the loop survives anything one pass does
                log.exception("ingest pass failed")
                now = (clock or utcnow)()
                report = RunReport(
                    day=slate_day(now),
                    started_at=now,
                    finished_at=now,
                    database_ok=False,
                    database_error=str(exc),
                )
            reports.append(report)
            if on_cycle is not None:
                on_cycle(report)
            if max_cycles is not None and len(reports) >= max_cycles:
                break
            pause = max(0.0, every.total_seconds() - (time.monotonic() - began))
            if wait is not None:
                wait(pause)
            elif stop.wait(pause):
                break
    finally:
        if own_client:
            client.close()
    return reports


# ---- the season's results ------------------------------------------------------------------

# A day's games are over by this hour (Eastern) of the next day: a schedule fetched later holds
# the day's finals.
_DAY_COMPLETE_HOUR = 6


def season_start(settings: Settings, season: int) -> date:
    """The first day a season's schedule is asked for (``mlb_season_start``, MM-DD)."""
    month, day_of_month = (int(part) for part in settings.mlb_season_start.split("-"))
    return date(season, month, day_of_month)


def covered_days(conn: psycopg.Connection, start: date, end: date) -> set[date]:
    """Days in ``start``..``end`` whose schedule was fetched (and parsed) after they were over."""
    fetches = fetch_frame(
        conn,
        """SELECT (params->>'startDate')::date AS first, (params->>'endDate')::date AS last, fetched_at
           FROM raw.fetches
           WHERE source = 'mlb_stats' AND endpoint = 'schedule' AND http_status BETWEEN 200 AND 299
             AND parse_status IN ('parsed', 'partial')
             AND params ? 'startDate' AND params ? 'endDate'
             AND (params->>'startDate')::date <= %s AND (params->>'endDate')::date >= %s""",
        (end, start),
    )
    if fetches.is_empty():
        return set()
    days = (
        fetches.with_columns(day=pl.date_ranges("first", "last"))
        .explode("day")
        .filter(pl.col("day").is_between(start, end))
        .with_columns(
            complete=(pl.col("day").cast(pl.Datetime("us")) + pl.duration(days=1, hours=_DAY_COMPLETE_HOUR))
            .dt.replace_time_zone(str(SLATE_ZONE))
            .dt.convert_time_zone("UTC")
        )
        .filter(pl.col("fetched_at").dt.convert_time_zone("UTC") >= pl.col("complete"))
    )
    return set(days.get_column("day").to_list())


def backfill_ranges(
    conn: psycopg.Connection, start: date, end: date, chunk_days: int, *, refetch: bool = False
) -> list[tuple[date, date]]:
    """The ``start``..``end`` days not yet covered (all with ``refetch``), as runs of at most
    ``chunk_days`` days: one schedule request each."""
    if end < start:
        return []
    covered = set() if refetch else covered_days(conn, start, end)
    ranges: list[tuple[date, date]] = []
    day = start
    while day <= end:
        if day in covered:
            day += timedelta(days=1)
            continue
        first = day
        while (
            day + timedelta(days=1) <= end
            and day + timedelta(days=1) not in covered
            and ((day + timedelta(days=1)) - first).days < chunk_days
        ):
            day += timedelta(days=1)
        ranges.append((first, day))
        day += timedelta(days=1)
    return ranges


class BackfillReport(BaseModel):
    """What a backfill of a season's results fetched, parsed and linked."""

    season: int
    start: date
    end: date
    requests: int = 0
    ok: int = 0
    errors: list[str] = Field(default_factory=list)
    parsed: int = 0
    written: dict[str, int] = Field(default_factory=dict)
    finals: int = 0
    database_ok: bool = True
    database_error: str | None = None


def backfill(
    settings: Settings,
    *,
    season: int,
    through: date | None = None,
    refetch: bool = False,
    client: PoliteClient | None = None,
    clock: Callable[[], datetime] | None = None,
    now: datetime | None = None,
) -> BackfillReport:
    """Fetch the MLB schedule with scores for ``season`` (its days not yet covered, or all with
    ``refetch``) up to ``through`` (default yesterday, Eastern, or the season's end), store every
    response raw, parse it into ``staging.schedule``/``staging.results`` and link the source games.
    ``curated.games`` is rebuilt by the caller (:func:`mlbedge.games.link.rebuild_games`; the daily
    pipeline's link step), which puts the season's finals in reach of the features.
    """
    clock = clock or clock_at(now)
    today = slate_day(clock())
    last = min(through or today - timedelta(days=1), date(season, 12, 31), today - timedelta(days=1))
    first = season_start(settings, season)
    report = BackfillReport(season=season, start=first, end=last)
    own_client = client is None
    client = client or PoliteClient.from_settings(settings, clock=clock)
    sink = RawSink(settings)
    try:
        if not sink.open():
            report.database_ok, report.database_error = False, sink.error
            return report
        assert sink.conn is not None
        ranges = backfill_ranges(sink.conn, first, last, settings.mlb_backfill_chunk_days, refetch=refetch)
        sink.conn.commit()
        this_pass = _Pass(settings, client, sink, clock, last)
        for start, end in ranges:
            result = this_pass.fetch(mlb_stats.schedule_request(settings, start, end))
            report.requests += 1
            if result is not None and result.ok:
                report.ok += 1
            elif result is not None:
                report.errors.append(f"{start}..{end}: {result.error}")
        run_report = RunReport(day=last, started_at=clock())
        _finish(sink, run_report, settings, since=clock() - timedelta(days=1))
        report.parsed, report.written = run_report.parsed, run_report.written
        if sink.conn is not None:
            report.finals = int(
                sink.conn.execute(
                    "SELECT count(DISTINCT r.game_pk) FROM staging.results r JOIN staging.schedule s "
                    "USING (game_pk) WHERE r.is_final AND s.official_date BETWEEN %s AND %s",
                    (first, last),
                ).fetchone()[0]
            )
    except _DB_DOWN as exc:
        sink.mark_down(exc)
    finally:
        if sink.error is not None:
            report.database_ok, report.database_error = False, sink.error
        sink.close()
        if own_client:
            client.close()
    return report


# ---- re-parse and status -------------------------------------------------------------------


class ReparseReport(BaseModel):
    """What a re-parse re-derived."""

    since: date
    sources: list[str]
    fetches: int = 0
    parsed: int = 0
    failures: int = 0
    written: dict[str, int] = Field(default_factory=dict)
    quarantined: int = 0
    matched: int = 0
    unmatched: int = 0


def reparse(
    conn: psycopg.Connection,
    *,
    since: date,
    sources: str | Sequence[str] | None = None,
    tolerance: timedelta = timedelta(hours=6),
) -> ReparseReport:
    """Re-derive staging from every stored fetch since ``since`` (00:00 UTC): delete what each
    produced and parse it again from ``raw``, then re-link. Running it twice changes nothing.
    """
    names = parse_sources(sources)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    ids = fetch_ids(conn, since=start, sources=names)
    summary = parse_stored(conn, ids, replace=True)
    matches = link_games(conn, tolerance=tolerance)
    conn.commit()
    return ReparseReport(
        since=since,
        sources=names,
        fetches=summary.fetches,
        parsed=summary.parsed,
        failures=summary.failures,
        written=summary.written,
        quarantined=summary.quarantined,
        matched=matches.filter(pl.col("match_status") == "matched").height,
        unmatched=matches.filter(pl.col("match_status") != "matched").height,
    )


class SourceStatus(BaseModel):
    """One source's recent history."""

    source: str
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    fetches: int = 0
    fetches_24h: int = 0
    errors_24h: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    parse_failures: int = 0
    odds_quotes: int = 0
    splits: int = 0
    games: int = 0
    unmatched_games: int = 0


class StatusReport(BaseModel):
    """Per source: last success, counts, errors; and fetches still waiting in the spool."""

    sources: list[SourceStatus]
    spooled: int = 0
    pending_parse: int = 0


def status(
    conn: psycopg.Connection, settings: Settings | None = None, *, now: datetime | None = None
) -> StatusReport:
    """What the live sources did: last success per source, counts, errors (24 h window)."""
    now = now or utcnow()
    fetches = fetch_frame(
        conn,
        """SELECT source,
                  max(fetched_at) FILTER (WHERE http_status BETWEEN 200 AND 299
                                          AND parse_status IN ('parsed', 'partial', 'pending')) AS last_success,
                  max(fetched_at) AS last_attempt,
                  count(*) AS fetches,
                  count(*) FILTER (WHERE fetched_at >= %(since)s) AS fetches_24h,
                  count(*) FILTER (WHERE fetched_at >= %(since)s
                                   AND (fetch_error IS NOT NULL OR parse_status = 'failed')) AS errors_24h,
                  count(*) FILTER (WHERE parse_status = 'failed') AS parse_failures
           FROM raw.fetches GROUP BY source""",
        {"since": now - timedelta(hours=24)},
    )
    last_errors = fetch_frame(
        conn,
        """SELECT DISTINCT ON (source) source,
                  coalesce(fetch_error, 'parse failed: ' || parse_error) AS last_error, fetched_at AS last_error_at
           FROM raw.fetches WHERE fetch_error IS NOT NULL OR parse_status = 'failed'
           ORDER BY source, fetched_at DESC""",
    )
    counts = {
        table: fetch_frame(conn, f"SELECT source, count(*) AS n FROM staging.{table} GROUP BY source")
        for table in ("odds_quotes", "splits")
    }
    games = fetch_frame(
        conn,
        """SELECT source, count(*) AS games, count(*) FILTER (WHERE match_status <> 'matched') AS unmatched
           FROM staging.source_games GROUP BY source""",
    )
    pending = conn.execute("SELECT count(*) FROM raw.fetches WHERE parse_status = 'pending'").fetchone()

    def lookup(frame: pl.DataFrame, source: str, column: str) -> Any:
        if frame.is_empty():
            return None
        hit = frame.filter(pl.col("source") == source)
        return hit.get_column(column)[0] if hit.height else None

    rows = []
    for source in SOURCES:
        rows.append(
            SourceStatus(
                source=source,
                last_success=lookup(fetches, source, "last_success"),
                last_attempt=lookup(fetches, source, "last_attempt"),
                fetches=lookup(fetches, source, "fetches") or 0,
                fetches_24h=lookup(fetches, source, "fetches_24h") or 0,
                errors_24h=lookup(fetches, source, "errors_24h") or 0,
                parse_failures=lookup(fetches, source, "parse_failures") or 0,
                last_error=lookup(last_errors, source, "last_error"),
                last_error_at=lookup(last_errors, source, "last_error_at"),
                odds_quotes=lookup(counts["odds_quotes"], source, "n") or 0,
                splits=lookup(counts["splits"], source, "n") or 0,
                games=lookup(games, source, "games") or 0,
                unmatched_games=lookup(games, source, "unmatched") or 0,
            )
        )
    spooled = len(Spool(settings.home / "spool")) if settings is not None else 0
    return StatusReport(sources=rows, spooled=spooled, pending_parse=int(pending[0]) if pending else 0)


def parse_every(text: str) -> timedelta:
    """A poll interval such as ``15m``, ``1h``, ``90s``, ``1h30m`` (a bare number is minutes)."""
    import re

    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return timedelta(minutes=float(value))
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", value)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", value):
        raise ValueError(f"not an interval: {text!r} (use e.g. 15m, 1h, 90s, 1h30m)")
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0}
    seconds = sum(float(n) * unit[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"the interval must be positive: {text!r}")
    return timedelta(seconds=seconds)
