"""The daily job: ingest → link → features → materialize → predict → recommend → settle yesterday → monitor.

Every step is idempotent: it writes keyed rows (the features, the online slate, ``ops.predictions``,
``ops.recommended_bets``, the alerts) so running a day again rewrites the same values and changes
nothing. Every attempt of every step is recorded in ``ops.pipeline_steps`` (status, timings,
counts, the error) under a run in ``ops.pipeline_runs``; with ``resume`` a run skips the steps a
previous run of the same day already finished.

A step that raises is retried (``retries`` times, ``retry_seconds`` apart) and then reported as
failed; the steps that do not depend on it still run (see :data:`DEPENDS`): a failed ingest does
not stop the features (they are built from what is stored), a failed materialization stops the
predictions and recommendations, which read the online store, but not settling or monitoring.

Predictions and recommendations go through the serving layer's own functions
(:func:`mlbedge.serving.predict.predict_rows`, the recommendations route's slate logic): the
pipeline and the API cannot disagree on a number.

A historical ``day`` (before yesterday, Eastern) skips the ingest: the live sources only know the
present, and the historical files are loaded separately (``mlbedge data load``). The ingest also
backfills the season's earlier days whose finals were never stored (:func:`mlbedge.ingest.backfill`).

The link step rebuilds ``curated.games`` from staging on every pass, so a live game, a new first
pitch or a new probable pitcher reaches the features the same day. A day the MLB schedule lists
games for must end with those games served: none in ``curated.games``, none built, none in the
online store is a failed step (the run exits non-zero) and a critical ``pipeline_empty`` alert,
never a quiet "ok".

``now`` (``pipeline run --now``) replays a recorded day as live: the ingest stamps its fetches
with that moment and the features are computed as of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import psycopg
from psycopg.types.json import Jsonb

from mlbedge.settings import Settings
from mlbedge.storage.bulk import upsert_frame
from mlbedge.storage.database import connect, fetch_frame

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = (
    "ingest",
    "link",
    "features",
    "materialize",
    "predict",
    "recommend",
    "settle",
    "monitor",
)
# What each step needs to have succeeded in this run. The features read whatever is stored, so
# they go on without a fresh ingest; the online store feeds predict and recommend.
DEPENDS: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "link": (),
    "features": (),
    "materialize": ("features",),
    "predict": ("materialize",),
    "recommend": ("materialize",),
    "settle": (),
    "monitor": (),
}


class StepSkipped(Exception):
    """A step that has nothing to do here (the message says why); recorded as ``skipped``."""


@dataclass
class PipelineConfig:
    """How a run behaves (the CLI's options)."""

    bankroll: float = 1000.0
    kelly_fraction: float | None = None  # None: the settings' recommend_kelly_fraction
    retries: int = 1
    retry_seconds: float = 5.0
    offline: bool = False  # skip the ingest (no network)
    resume: bool = False  # skip the steps a previous run of the day finished
    retrain: bool = True  # let the monitor's alerts start a retraining cycle
    only: Sequence[str] | None = None  # run just these steps (the others are skipped)
    trigger: str = "cli"
    now: datetime | None = None  # replay: the moment the run acts as if it were (None: the clock)


@dataclass
class StepResult:
    """The last attempt of one step."""

    step: str
    status: str  # ok, failed, skipped
    attempts: int
    seconds: float
    counts: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


@dataclass
class PipelineReport:
    """What one run did."""

    run_id: str
    day: date
    status: str
    steps: list[StepResult]
    seconds: float

    def step(self, name: str) -> StepResult:
        """The result of step ``name``."""
        return next(s for s in self.steps if s.step == name)


StepFn = Callable[["_Run"], dict[str, Any]]


def historical(day: date, now: datetime | None = None) -> bool:
    """True when ``day`` is before yesterday on MLB's (Eastern) calendar: nothing live to fetch."""
    from mlbedge.ingest import slate_day

    return day < slate_day(now or datetime.now(UTC)) - timedelta(days=1)


class _Run:
    """One run's shared parts: settings, config, the day, and a serving state built on demand."""

    def __init__(self, settings: Settings, config: PipelineConfig, day: date) -> None:
        self.settings = settings
        self.config = config
        self.day = day
        self._serving: Any = None
        self._t0 = time.monotonic()

    @contextmanager
    def conn(self) -> Iterator[psycopg.Connection]:
        """A migrated connection committed when the block ends (one transaction per step)."""
        with connect(self.settings) as conn:
            yield conn

    def now(self) -> datetime:
        """The run's present: the replayed moment plus the time the run has taken, or the clock."""
        if self.config.now is None:
            return datetime.now(UTC)
        return self.config.now.astimezone(UTC) + timedelta(seconds=time.monotonic() - self._t0)

    def scheduled_games(self) -> int:
        """Games of the day the newest stored MLB schedule lists (regular season and postseason,
        postponed ones left out)."""
        with self.conn() as conn:
            row = conn.execute(
                "SELECT count(*) FROM (SELECT DISTINCT ON (game_pk) * FROM staging.schedule "
                "ORDER BY game_pk, observed_at DESC) s WHERE s.official_date = %s "
                "AND (s.game_type = 'R' OR s.game_type IN ('F', 'D', 'L', 'W')) "
                "AND coalesce(s.detailed_state, '') NOT ILIKE 'postponed%%'",
                (self.day,),
            ).fetchone()
        return int(row[0]) if row else 0

    def curated_games(self) -> int:
        """Games of the day in ``curated.games``."""
        with self.conn() as conn:
            row = conn.execute("SELECT count(*) FROM curated.games WHERE date = %s", (self.day,)).fetchone()
        return int(row[0]) if row else 0

    def empty_day(self, step: str, message: str, evidence: dict[str, Any]) -> RuntimeError:
        """Store a critical ``pipeline_empty`` alert for the day and return the step's error."""
        from mlbedge.monitoring.alerts import PIPELINE_EMPTY, Finding, raise_alerts

        finding = Finding(
            PIPELINE_EMPTY, f"pipeline:{step}", self.day.isoformat(), "critical", message, evidence
        )
        try:
            with self.conn() as conn:
                raise_alerts(conn, [finding])
        except psycopg.Error:  # the step fails either way; the log keeps the alert's text
            log.exception("could not store the alert: %s", message)
        return RuntimeError(message)

    def serving(self) -> Any:
        """The API's serving state (store, pool, champions), built once for the run."""
        from mlbedge.serving.dependencies import ServingState

        if self._serving is None:
            self._serving = ServingState.start(self.settings)
        return self._serving

    def close(self) -> None:
        """Release the serving state, if one was built."""
        if self._serving is not None:
            state, self._serving = self._serving, None
            with suppress(Exception):
                asyncio.run(state.limiter.close())
            state.close()


# ---- the steps ------------------------------------------------------------------------------


def step_ingest(run: _Run) -> dict[str, Any]:
    """One pass over the live sources for the day (skipped offline or for a historical day)."""
    from mlbedge import ingest

    if run.config.offline:
        raise StepSkipped("offline: the live sources are not fetched")
    if historical(run.day, run.now()):
        raise StepSkipped(f"{run.day} is historical: the live sources only serve the present")
    report = ingest.run(run.settings, day=run.day, now=run.config.now)
    if not report.database_ok:
        raise RuntimeError(f"ingest could not store what it fetched: {report.database_error}")
    errors = {name: s.errors for name, s in report.sources.items() if s.errors}
    if errors and len(errors) == len(report.sources):
        raise RuntimeError(f"every source failed: {errors}")
    return {
        "stored": report.stored,
        "spooled": report.spooled,
        "requests": sum(s.requests for s in report.sources.values()),
        "sources_failed": sorted(errors),
    }


def step_link(run: _Run) -> dict[str, Any]:
    """Rebuild ``curated.games`` from staging, live games with their ``gamePk`` and their latest
    pre-cutoff facts (first pitch, probable pitchers); fail when the schedule's games are missing."""
    from mlbedge.games.link import rebuild_games

    with run.conn() as conn:
        live = conn.execute("SELECT EXISTS (SELECT 1 FROM staging.schedule)").fetchone()
        if not (live and live[0]):
            raise StepSkipped("no live schedule stored: curated.games is the historical files'")
        report = rebuild_games(conn, run.settings.cutoff_minutes)
    scheduled, games = run.scheduled_games(), run.curated_games()
    with run.conn() as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE home_starter IS NOT NULL AND away_starter IS NOT NULL) "
            "FROM curated.games WHERE date = %s",
            (run.day,),
        ).fetchone()
    both_starters = int(row[0]) if row else 0
    if scheduled and not games:
        raise run.empty_day(
            "link",
            f"the MLB schedule lists {scheduled} game(s) on {run.day} but none reached curated.games",
            {"scheduled": scheduled, "games": games},
        )
    return {
        "scheduled": scheduled,
        "games": games,
        "with_both_starters": both_starters,
        "live_games": sum(s.live for s in report.seasons),
    }


def step_features(run: _Run) -> dict[str, Any]:
    """Build the features the stored rows of the day's season lack (incremental; a game whose
    features were computed before its cutoff is computed again, so late facts reach it)."""
    from mlbedge.features.io import build_and_store

    with run.conn() as conn:
        report = build_and_store(
            conn,
            seasons=[run.day.year],
            cutoff_minutes=run.settings.cutoff_minutes,
            now=run.now() if run.config.now is not None else None,
        )
        built = conn.execute(
            "SELECT count(*) FROM curated.game_features WHERE date = %s", (run.day,)
        ).fetchone()
    games, day_rows = run.curated_games(), int(built[0]) if built else 0
    scheduled = run.scheduled_games()
    if (games or scheduled) and not day_rows:
        raise run.empty_day(
            "features",
            f"{run.day} has {scheduled} scheduled game(s) and {games} in curated.games, "
            "but no features were built for any",
            {"scheduled": scheduled, "games": games, "features": day_rows},
        )
    return {
        "games": report.games,
        "written": report.written,
        "day_games": day_rows,
        "feature_set_version": report.version,
    }


def step_materialize(run: _Run) -> dict[str, Any]:
    """Copy the day's stored features into the online store (an unchanged slate is left alone)."""
    from mlbedge.store.factory import online_store
    from mlbedge.store.materialize import materialize

    store = online_store(run.settings)
    try:
        with run.conn() as conn:
            try:
                report = materialize(conn, store, dates=[run.day])
            except LookupError as exc:
                games = run.curated_games()
                if games or run.scheduled_games():
                    raise run.empty_day(
                        "materialize",
                        f"{run.day} has games to serve but no stored features: {exc}",
                        {"games": games},
                    ) from exc
                raise StepSkipped(f"no stored features for {run.day}: {exc}") from exc
    finally:
        store.close()
    return {"games": report.games, "switched": report.switched, "unchanged": report.unchanged}


def step_predict(run: _Run) -> dict[str, Any]:
    """The champions' probabilities for every game of the day, as the API computes them."""
    from mlbedge.serving.answers import to_predictions
    from mlbedge.serving.predict import predict_rows

    state = run.serving()
    models = state.models.current.require()
    read = state.store.read_slate(run.day)
    if not read.rows:
        raise StepSkipped(f"no games of {run.day} in the online store")
    predictions = to_predictions(predict_rows(models, read.rows), read.degraded)
    if state.ready is not None:  # the day's answers ready for the API (same models, same slate)
        state.ready.remember(models, read.rows, predictions)
    records = [
        {
            "game_id": p.game_id,
            "market": m.market,
            "date": p.date,
            "as_of": p.as_of,
            "model_name": m.model.name,
            "model_version": m.model.version,
            "line": m.line,
            "probability": m.sides[0].probability,
            "market_probability": m.sides[0].market_probability,
        }
        for p in predictions
        for m in p.markets
    ]
    frame = pl.DataFrame(records, schema=PREDICTION_SCHEMA)
    with run.conn() as conn:
        changed = upsert_frame(conn, "ops.predictions", frame, key=["game_id", "market"])
    return {"games": len(predictions), "predictions": frame.height, "changed": changed}


def step_recommend(run: _Run) -> dict[str, Any]:
    """The day's Kelly-sized bets, as ``GET /v1/recommendations`` answers them."""
    from mlbedge.serving.routers.recommendations import recommend_slate

    state = run.serving()
    fraction = run.config.kelly_fraction or run.settings.recommend_kelly_fraction
    body = recommend_slate(state, run.day, run.config.bankroll, fraction)
    frame = pl.DataFrame(
        [
            {
                **b.model_dump(include=set(BET_SCHEMA) - {"date", "bankroll"}),
                "date": run.day,
                "bankroll": run.config.bankroll,
            }
            for b in body.bets
        ],
        schema=BET_SCHEMA,
    )
    with run.conn() as conn:
        # The slate is the answer as a whole: bets of an earlier run the answer no longer holds go.
        keys = frame.select(pl.concat_str("game_id", "market", "side", separator="|"))
        removed = conn.execute(
            "DELETE FROM ops.recommended_bets WHERE date = %s AND result IS NULL "
            "AND NOT (game_id || '|' || market || '|' || side = ANY(%s::text[]))",
            (run.day, keys.to_series().to_list()),
        ).rowcount
        changed = upsert_frame(conn, "ops.recommended_bets", frame, key=["game_id", "market", "side"])
    return {
        "games": body.games,
        "candidates": body.candidates,
        "bets": frame.height,
        "total_stake": round(body.total_stake, 2),
        "changed": changed,
        "removed": max(removed, 0),
    }


def step_settle(run: _Run) -> dict[str, Any]:
    """Settle the bets recommended for the day before from the final scores stored."""
    from mlbedge.betting.settlement import settle_frame

    yesterday = run.day - timedelta(days=1)
    with run.conn() as conn:
        bets = fetch_frame(
            conn,
            "SELECT b.game_id, b.market, b.side, b.line, b.odds, b.stake, g.home_score, g.away_score "
            "FROM ops.recommended_bets b JOIN curated.games g USING (game_id) WHERE b.date = %s",
            (yesterday,),
        )
        if bets.is_empty():
            return {"date": yesterday.isoformat(), "bets": 0, "settled": 0, "profit": 0.0}
        # Stored lines are each side's own (the recommendation's), which is what settlement wants.
        settled = settle_frame(
            bets.with_columns(
                line=pl.col("line").cast(pl.Float64),
                home_score=pl.col("home_score").cast(pl.Float64),
                away_score=pl.col("away_score").cast(pl.Float64),
            )
        )
        out = bets.select("game_id", "market", "side").with_columns(
            result=settled["result"].cast(pl.String), profit=settled["profit"]
        )
        # Without final scores a bet stays open (void here would be wrong: the game may finish).
        final = bets["home_score"].is_not_null() & bets["away_score"].is_not_null()
        out = out.filter(final)
        changed = 0
        if out.height:
            changed = conn.execute(
                "UPDATE ops.recommended_bets b SET result = s.result, profit = s.profit "
                "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::float8[]) "
                "AS s(game_id, market, side, result, profit) "
                "WHERE b.game_id = s.game_id AND b.market = s.market AND b.side = s.side "
                "AND (b.result IS DISTINCT FROM s.result OR b.profit IS DISTINCT FROM s.profit)",
                [out[c].to_list() for c in ("game_id", "market", "side", "result", "profit")],
            ).rowcount
    return {
        "date": yesterday.isoformat(),
        "bets": bets.height,
        "settled": out.height,
        "changed": max(changed, 0),
        "profit": round(float(out["profit"].sum()), 2),
    }


def step_monitor(run: _Run) -> dict[str, Any]:
    """Every monitoring check as of the day; alerts stored, maybe a retraining cycle."""
    from mlbedge.monitoring.runner import run_monitor

    with run.conn() as conn:
        report = run_monitor(conn, as_of=run.day, settings=run.settings, retrain=run.config.retrain)
    return {
        "raised": len(report.raised),
        "new": len(report.new_alerts),
        "cleared": len(report.cleared),
        "retrained": report.retrain is not None and report.retrain.error is None,
        "skipped_checks": sorted(report.skipped),
    }


STEP_FUNCTIONS: dict[str, StepFn] = {
    "ingest": step_ingest,
    "link": step_link,
    "features": step_features,
    "materialize": step_materialize,
    "predict": step_predict,
    "recommend": step_recommend,
    "settle": step_settle,
    "monitor": step_monitor,
}

PREDICTION_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "market": pl.String(),
    "date": pl.Date(),
    "as_of": pl.Datetime("us", "UTC"),
    "model_name": pl.String(),
    "model_version": pl.String(),
    "line": pl.Float64(),
    "probability": pl.Float64(),
    "market_probability": pl.Float64(),
}
BET_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "date": pl.Date(),
    "book": pl.String(),
    "line": pl.Float64(),
    "odds": pl.Int32(),
    "probability": pl.Float64(),
    "edge": pl.Float64(),
    "stake": pl.Float64(),
    "bankroll": pl.Float64(),
    "as_of": pl.Datetime("us", "UTC"),
    "observed_at": pl.Datetime("us", "UTC"),
}


# ---- the run records ------------------------------------------------------------------------


def _record_run(
    settings: Settings, run_id: str, day: date, trigger: str, status: str, finished: bool
) -> None:
    with connect(settings) as conn:
        conn.execute(
            "INSERT INTO ops.pipeline_runs (run_id, run_date, trigger, status, started_at) "
            "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, "
            "finished_at = CASE WHEN %s THEN now() END",
            (run_id, day, trigger, status, finished),
        )


def _record_step(settings: Settings, run_id: str, result: StepResult, started: datetime) -> None:
    try:
        with connect(settings) as conn:
            conn.execute(
                "INSERT INTO ops.pipeline_steps (run_id, step, attempt, status, started_at, finished_at, "
                "seconds, counts, detail) VALUES (%s, %s, %s, %s, %s, now(), %s, %s, %s)",
                (
                    run_id,
                    result.step,
                    result.attempts,
                    result.status,
                    started,
                    result.seconds,
                    Jsonb(result.counts),
                    result.detail,
                ),
            )
    except psycopg.Error:  # the record is a report: losing it must not fail the step
        log.exception("could not record step %s of run %s", result.step, run_id)


def finished_steps(settings: Settings, day: date) -> set[str]:
    """The steps some earlier run of ``day`` finished: ok, or skipped for want of work (not for
    want of a step they need)."""
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT DISTINCT s.step FROM ops.pipeline_steps s JOIN ops.pipeline_runs r USING (run_id) "
            "WHERE r.run_date = %s AND (s.status = 'ok' OR (s.status = 'skipped' AND s.detail NOT LIKE 'needs %%'))",
            (day,),
        ).fetchall()
    return {r[0] for r in rows}


def step_history(settings: Settings, day: date | None = None, limit: int = 50) -> pl.DataFrame:
    """The latest step attempts (of ``day`` when given), newest first."""
    where = "WHERE r.run_date = %s" if day is not None else ""
    with connect(settings) as conn:
        return fetch_frame(
            conn,
            "SELECT r.run_date, left(r.run_id::text, 8) AS run, s.step, s.attempt, s.status, "
            "round(s.seconds::numeric, 2)::float8 AS seconds, s.counts::text AS counts, s.detail "
            f"FROM ops.pipeline_steps s JOIN ops.pipeline_runs r USING (run_id) {where} "
            "ORDER BY s.started_at DESC LIMIT %s",
            ((day, limit) if day is not None else (limit,)),
        )


# ---- the run --------------------------------------------------------------------------------


def _attempt(
    run: _Run, name: str, fn: StepFn, run_id: str, on_step: Callable[[StepResult], None] | None
) -> StepResult:
    attempts = run.config.retries + 1
    result = StepResult(name, "failed", 0, 0.0)
    for attempt in range(1, attempts + 1):
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            counts = fn(run)
            result = StepResult(name, "ok", attempt, time.perf_counter() - started, counts)
        except StepSkipped as exc:
            result = StepResult(name, "skipped", attempt, time.perf_counter() - started, {}, str(exc))
        except Exception as exc:
            log.warning(
                "pipeline step %s of %s failed (attempt %d of %d): %s", name, run.day, attempt, attempts, exc
            )
            result = StepResult(
                name, "failed", attempt, time.perf_counter() - started, {}, f"{type(exc).__name__}: {exc}"
            )
        _record_step(run.settings, run_id, result, started_at)
        if result.status != "failed":
            break
        if attempt < attempts:
            time.sleep(run.config.retry_seconds)
    if on_step is not None:
        on_step(result)
    return result


def run_pipeline(
    settings: Settings,
    day: date,
    config: PipelineConfig | None = None,
    *,
    steps: dict[str, StepFn] | None = None,
    on_step: Callable[[StepResult], None] | None = None,
) -> PipelineReport:
    """Run the daily job for ``day`` (see the module docstring) and return what each step did.

    ``steps`` replaces step functions by name (the scheduler's and the tests' hook); ``on_step``
    is called after each step (progress).
    """
    config = config or PipelineConfig()
    functions = {**STEP_FUNCTIONS, **(steps or {})}
    run_id = str(uuid.uuid4())
    began = time.perf_counter()
    _record_run(settings, run_id, day, config.trigger, "running", finished=False)
    done = finished_steps(settings, day) if config.resume else set()
    run = _Run(settings, config, day)
    results: list[StepResult] = []
    ok: set[str] = set()
    try:
        for name in STEPS:
            # A dependency left out of ``only`` is the caller's choice, not a failure.
            blocked = [d for d in DEPENDS[name] if d not in ok and (config.only is None or d in config.only)]
            if config.only is not None and name not in config.only:
                result = StepResult(name, "skipped", 0, 0.0, {}, "not selected")
            elif name in done:
                result = StepResult(name, "skipped", 0, 0.0, {}, "finished by an earlier run (resume)")
                ok.add(name)
            elif blocked:
                result = StepResult(
                    name, "skipped", 0, 0.0, {}, f"needs {', '.join(blocked)}, which did not succeed"
                )
                _record_step(
                    settings,
                    run_id,
                    StepResult(name, "skipped", 1, 0.0, {}, result.detail),
                    datetime.now(UTC),
                )
                if on_step is not None:
                    on_step(result)
            else:
                result = _attempt(run, name, functions[name], run_id, on_step)
            if result.status == "ok" or (
                result.status == "skipped" and not result.detail.startswith("needs ")
            ):
                ok.add(name)
            results.append(result)
    finally:
        run.close()
    failed = [r for r in results if r.status == "failed" or r.detail.startswith("needs ")]
    status = "ok" if not failed else ("failed" if len(failed) == len(results) else "partial")
    _record_run(settings, run_id, day, config.trigger, status, finished=True)
    return PipelineReport(run_id, day, status, results, time.perf_counter() - began)


# ---- the schedule ---------------------------------------------------------------------------

DAILY_JOB = "daily-pipeline"
RETRAIN_JOB = "retrain-cycle"


def daily_job(
    settings: Settings, config: PipelineConfig, clock: Callable[[], datetime] | None = None
) -> PipelineReport | None:
    """The scheduled run of today's (Eastern) slate; never raises, so the scheduler goes on."""
    from mlbedge.ingest import slate_day

    day = slate_day((clock or (lambda: datetime.now(UTC)))())
    try:
        report = run_pipeline(settings, day, config)
    except Exception:  # the run records themselves failed (database away): say so, keep the schedule
        log.exception("the pipeline run of %s could not run", day)
        return None
    for step in report.steps:
        if step.status == "failed":
            log.error(
                "pipeline %s: step %s failed after %d attempt(s): %s",
                day,
                step.step,
                step.attempts,
                step.detail,
            )
    log.info("pipeline %s finished: %s in %.1f s", day, report.status, report.seconds)
    return report


def retrain_job(settings: Settings, targets: str | None = None) -> list[Any] | None:
    """One sliding-window retraining cycle (the registry decides promotions); never raises."""
    from mlbedge.training.retrain import retrain_cycle
    from mlbedge.training.targets import parse_targets

    try:
        with connect(settings) as conn:
            decisions = retrain_cycle(
                conn, parse_targets(targets or settings.serve_targets), settings=settings
            )
    except Exception:
        log.exception("the retraining cycle failed")
        return None
    log.info("retraining cycle: %d decision(s)", len(decisions))
    return decisions


def add_jobs(
    scheduler: Any,
    settings: Settings,
    config: PipelineConfig,
    *,
    at: str = "10:00",
    retrain_every_days: int | None = None,
) -> None:
    """Add the daily pipeline (at ``at``, HH:MM Eastern) and the retraining cadence (every
    ``retrain_every_days``, default the settings') to an APScheduler scheduler."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from mlbedge.ingest import SLATE_ZONE

    try:
        hour, minute = (int(part) for part in at.split(":"))
        trigger = CronTrigger(hour=hour, minute=minute, timezone=SLATE_ZONE)
    except ValueError as exc:
        raise ValueError(f"--at {at!r} is not a time HH:MM (Eastern)") from exc
    every = retrain_every_days or settings.retrain_every_days
    # One instance at a time, and a run missed while the machine slept still happens once.
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 6 * 3600, "replace_existing": True}
    scheduler.add_job(
        daily_job, trigger, args=[settings, config], id=DAILY_JOB, name="daily pipeline", **common
    )
    scheduler.add_job(
        retrain_job,
        IntervalTrigger(days=every, timezone=SLATE_ZONE),
        args=[settings],
        id=RETRAIN_JOB,
        name=f"retraining every {every} days",
        **common,
    )
