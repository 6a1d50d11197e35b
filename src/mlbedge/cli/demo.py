"""``mlbedge demo``: the whole story on the embedded default and the real historical files.

Load the files → link the games → build the features → train small models and register them →
backtest a season with the HTML report → the daily pipeline on a historical date (materialize,
predict, recommend, settle the day before, monitor) → the API on a free loopback port, asked for
the date's games, predictions and bets → stop. Each stage prints as it finishes, with its time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import typer
from rich.progress import Progress

from mlbedge.cli.data import print_link_report, print_summaries
from mlbedge.cli.options import HomeOption, console, fail, parse_date, print_frame, settings_for
from mlbedge.notices import DATA_NOTICE
from mlbedge.settings import Settings
from mlbedge.storage.database import connect

T = TypeVar("T")
DEMO_DATE = date(2016, 8, 2)  # Pinnacle start times and time-stamped lines: the richest slate at hand
DEMO_MARKETS = ("moneyline", "total", "runline")


def _stage(number: int, title: str, fn: Callable[[], T]) -> T:
    console.rule(f"[bold]{number}. {title}")
    started = time.perf_counter()
    out = fn()
    console.print(f"[green]✓ {title}[/] in {time.perf_counter() - started:.1f} s")
    return out


def _seasons(text: str) -> list[int]:
    try:
        first, _, last = text.partition("-")
        seasons = list(range(int(first), int(last or first) + 1))
    except ValueError as exc:
        raise typer.BadParameter(f"--train-seasons {text!r} is not YYYY or YYYY-YYYY") from exc
    if not seasons:
        raise typer.BadParameter(f"--train-seasons {text!r} is empty")
    return seasons


def _load(settings: Settings) -> None:
    from mlbedge.games.link import rebuild_games
    from mlbedge.sources.historical.files import historical_files
    from mlbedge.sources.historical.lahman import load_lahman_files
    from mlbedge.sources.historical.pinnacle import load_pinnacle
    from mlbedge.sources.historical.retrosheet import load_retrosheet_files
    from mlbedge.sources.historical.retrosplits import load_retrosplits_files
    from mlbedge.sources.historical.sbro import load_sbro_files

    files = historical_files(settings.data_dir)
    if not files.sbro:
        raise fail(f"no SBRO files under {settings.data_dir}; set MLBEDGE_DATA_DIR")
    with connect(settings) as conn, Progress(console=console, transient=True) as progress:
        summaries = load_sbro_files(conn, files.sbro, progress=progress)
        if files.pinnacle_games and files.pinnacle_lines:
            summaries += load_pinnacle(conn, files.pinnacle_games, files.pinnacle_lines, progress=progress)
        summaries += load_retrosheet_files(conn, files.retrosheet, progress=progress)
        summaries += load_lahman_files(conn, files.lahman, progress=progress)
        summaries += load_retrosplits_files(conn, files.retrosplits, progress=progress)
        report = rebuild_games(conn)
    print_summaries(summaries)
    print_link_report(report)


def _features(settings: Settings) -> None:
    from mlbedge.features.io import build_and_store

    with connect(settings) as conn:
        report = build_and_store(conn, cutoff_minutes=settings.cutoff_minutes)
    console.print(
        f"{report.written:,} games' features written (feature set {report.version}, "
        f"seasons {report.seasons[0] if report.seasons else '-'}..{report.seasons[-1] if report.seasons else '-'})"
    )


def _train(settings: Settings, seasons: list[int], rounds: int) -> None:
    from mlbedge.training import registry
    from mlbedge.training.dataset import load_training_data
    from mlbedge.training.targets import get_target
    from mlbedge.training.trainer import model_params

    with connect(settings) as conn:
        data = load_training_data(conn, seasons=seasons)
    console.print(
        f"{len(data.features):,} games, seasons {seasons[0]}-{seasons[-1]}; MLflow at {registry.tracking_uri(settings)}"
    )
    # The demo's models serve right away: each new version becomes the champion.
    published = registry.train_and_register(
        data,
        [get_target(m) for m in DEMO_MARKETS],
        settings=settings,
        params=model_params(settings, rounds),
        promote=True,
    )
    for done in published:
        console.print(
            f"  {done.target.name}: {done.trained.n_train:,} games, {done.logged.name} version {done.version} "
            "(champion)"
        )


def _backtest(settings: Settings, seasons: list[int], test_season: int, rounds: int) -> Path:
    from mlbedge.betting.kelly import StakingPolicy
    from mlbedge.betting.report import season_report, write_report
    from mlbedge.research.seasons import run_season
    from mlbedge.serving.dashboard import save_backtest
    from mlbedge.training.trainer import model_params

    with connect(settings) as conn:
        season = run_season(
            conn,
            seasons,
            test_season,
            markets=list(DEMO_MARKETS),
            policy=StakingPolicy(kelly_fraction=0.25),
            bankroll=1000.0,
            model_params=model_params(settings, rounds),
        )
    doc = season.to_json(n_resamples=500)
    rows = [
        {
            "market": m,
            "games": doc[m]["n_games"],
            "model log loss": doc[m]["model"]["log_loss"],
            "open log loss": doc[m]["market_open"]["log_loss"],
            "close log loss": doc[m]["market_close"]["log_loss"],
            "bets": doc[m]["n_bets"],
            "roi": doc[m]["roi"],
            "final bankroll": doc[m]["final_bankroll"],
        }
        for m in DEMO_MARKETS
    ]
    print_frame(pl.DataFrame(rows).with_columns(pl.col(pl.Float64).round(4)), title=f"Backtest {test_season}")
    reports = settings.home / "reports"
    path = write_report(season_report(season, doc), reports / f"backtest_{test_season}.html")
    (reports / f"backtest_{test_season}.json").write_text(json.dumps(doc, indent=2, default=str))
    save_backtest(season, doc, settings)
    console.print(f"HTML report: {path}")
    return path


def _pipeline(settings: Settings, day: date) -> None:
    from mlbedge.cli.pipeline import print_report
    from mlbedge.pipeline import PipelineConfig, run_pipeline

    config = PipelineConfig(offline=True, retries=0, retrain=False, trigger="demo")
    # The day before first, so the day's run settles its bets.
    for when in (day.fromordinal(day.toordinal() - 1), day):
        report = run_pipeline(settings, when, config)
        print_report(report)
        failed = [s for s in report.steps if s.status == "failed"]
        if failed:
            raise fail(f"pipeline step {failed[0].step} failed for {when}: {failed[0].detail}")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(settings: Settings, port: int | None = None) -> Iterator[str]:
    """The API under uvicorn in a thread of this process on loopback; yields its URL, stops on exit."""
    import uvicorn

    from mlbedge.serving.app import create_app
    from mlbedge.serving.limits import uvicorn_options

    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"mlbedge-api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise fail(f"the API did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _ask_api(url: str, day: date, keep_serving: bool) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=60.0) as client:
        ready = client.get("/ready")
        console.print(f"API at {url}: /ready {ready.status_code}; dashboard at {url}/?date={day}")
        games = client.get("/v1/games", params={"date": day.isoformat()}).raise_for_status().json()["games"]
        console.print(f"{len(games)} games on {day}")
        rows: list[dict[str, Any]] = []
        for game in games[:4]:
            body = client.get(f"/v1/predictions/{game['game_id']}").raise_for_status().json()
            for market in body["markets"]:
                side = market["sides"][0]
                rows.append(
                    {
                        "game": game["game_id"],
                        "market": market["market"],
                        "line": market["line"],
                        "side": side["side"],
                        "model": side["probability"],
                        "market p": side["market_probability"],
                        "edge": side["edge"],
                    }
                )
        if rows:
            print_frame(
                pl.DataFrame(rows).with_columns(pl.col(pl.Float64).round(3)), title=f"Predictions, {day}"
            )
        recs = (
            client.get("/v1/recommendations", params={"date": day.isoformat(), "bankroll": 1000})
            .raise_for_status()
            .json()
        )
        bets = [
            {
                k: b[k]
                for k in ("game_id", "market", "side", "book", "line", "odds", "probability", "edge", "stake")
            }
            for b in recs["bets"]
        ]
        if bets:
            print_frame(
                pl.DataFrame(bets).with_columns(pl.col(pl.Float64).round(3)).head(12),
                title=f"Recommended bets, {day} (bankroll 1000, total stake {recs['total_stake']:.0f})",
            )
        else:
            console.print(f"no bet clears the minimum edge on {day} ({recs['candidates']} candidates)")
        page = client.get("/", params={"date": day.isoformat()})
        console.print(f"dashboard: GET / -> {page.status_code}, {len(page.text):,} bytes")
    if keep_serving:
        console.print(f"[bold]serving at {url} — Ctrl-C to stop[/]")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


def demo(
    day: str = typer.Option(DEMO_DATE.isoformat(), "--date", help="The historical date to predict and bet."),
    train_seasons: str = typer.Option("2010-2015", "--train-seasons", help="Seasons the models learn from."),
    test_season: int = typer.Option(2016, "--test-season", help="The season backtested."),
    rounds: int = typer.Option(60, "--rounds", min=5, help="Boosting rounds (small: the demo is quick)."),
    keep_serving: bool = typer.Option(False, "--keep-serving", help="Leave the API up until Ctrl-C."),
    home: Path | None = HomeOption,
) -> None:
    """The whole pipeline on the embedded default, end to end, in a few minutes."""
    settings = settings_for(home)
    when = parse_date(day)
    assert when is not None
    seasons = _seasons(train_seasons)
    console.rule("mlbedge demo")
    console.print(f"home: {settings.home}\ndata: {settings.data_dir}")
    started = time.perf_counter()
    _stage(1, "load the historical files and link the games", lambda: _load(settings))
    _stage(2, "build the point-in-time features", lambda: _features(settings))
    _stage(3, f"train small models on {seasons[0]}-{seasons[-1]}", lambda: _train(settings, seasons, rounds))
    _stage(
        4,
        f"backtest {test_season} (report under {settings.home / 'reports'})",
        lambda: _backtest(settings, seasons, test_season, rounds),
    )
    _stage(5, f"daily pipeline for {when} (offline: historical)", lambda: _pipeline(settings, when))

    def api() -> None:
        with served(settings) as url:
            _ask_api(url, when, keep_serving)

    _stage(6, "serve the API and ask it", api)
    console.print(f"[green bold]demo done in {time.perf_counter() - started:.1f} s[/]")
    console.print(DATA_NOTICE)
