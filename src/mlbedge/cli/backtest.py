"""``mlbedge backtest`` and ``mlbedge models compare``: thin, they parse, call :mod:`mlbedge.betting`, print.

MLflow is imported only when a run is logged, so the commands start without it otherwise.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from mlbedge.cli.features import parse_seasons
from mlbedge.cli.options import HomeOption, RoundsOption, console, fail, settings_for
from mlbedge.skill import DEFAULT_CLOSE_MARGIN
from mlbedge.storage.database import connect

DEFAULT_MARKETS = "moneyline,total,runline"


def _policy(kelly_fraction: float, min_edge: float, method: str) -> Any:
    from pydantic import ValidationError

    from mlbedge.betting.kelly import StakingPolicy

    try:
        return StakingPolicy(kelly_fraction=kelly_fraction, min_edge=min_edge, method=method)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _pct(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value * 100:.{digits}f}%"


def _num(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def backtest(
    train_seasons: str = typer.Option(..., "--train-seasons", help="Seasons to train on, e.g. 2010-2019."),
    test_season: int | None = typer.Option(
        None, "--test-season", help="The season to bet on (any season loaded)."
    ),
    test_seasons: str | None = typer.Option(
        None, "--test-seasons", help="Seasons to bet on, e.g. 2015-2020, each trained on every earlier one."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the numbers here.", dir_okay=False),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report here.", dir_okay=False),
    markets: str = typer.Option(
        DEFAULT_MARKETS, "--markets", help="Comma-separated markets to model and bet."
    ),
    bankroll: float = typer.Option(1000.0, "--bankroll", help="Starting bankroll."),
    kelly_fraction: float = typer.Option(0.25, "--kelly-fraction", help="Share of full Kelly staked."),
    min_edge: float = typer.Option(0.0, "--min-edge", help="Smallest expected profit per unit worth a bet."),
    method: str = typer.Option("simultaneous", "--method", help="simultaneous or independent Kelly."),
    rounds: int | None = RoundsOption,
    gate: bool = typer.Option(
        True,
        "--gate/--no-gate",
        help="Bet a market only when the model's out-of-sample record on the training seasons beats "
        "the price (log-loss difference, 95% CI below zero); --no-gate bets every market on the model alone.",
    ),
    max_edge: float = typer.Option(
        0.10, "--max-edge", min=0.0, help="With the gate: cap on a bet's edge (expected profit per unit)."
    ),
    strategy: str = typer.Option(
        "outcome",
        "--strategy",
        help="outcome: bet the outcome models at the prices of the cutoff; close: bet the opening price "
        "where the move model predicts the close to be better for that side (judged by CLV).",
    ),
    close_margin: float = typer.Option(
        DEFAULT_CLOSE_MARGIN,
        "--close-margin",
        min=0.0,
        help="--strategy close: the logit move a side's predicted close must clear over the open.",
    ),
    log: bool = typer.Option(True, "--log/--no-log", help="Log the numbers and the report to MLflow."),
    home: Path | None = HomeOption,
) -> None:
    """Train on the training seasons, bet the test season round by round on what was known, report.

    With ``--test-seasons`` each test season is trained on every earlier season and the JSON and
    the report give each season's numbers and the pooled ones. ``--strategy close`` trains the move
    models (close_moneyline, close_total) and bets the opening prices at the start of each game's
    local date where the predicted close beats them by ``--close-margin``; its gate is the CLV of
    those bets out of sample."""
    from mlbedge.betting.report import season_report, write_report
    from mlbedge.research.seasons import log_backtest, run_season
    from mlbedge.training.dataset import MissingFeaturesError
    from mlbedge.training.trainer import model_params

    settings = settings_for(home)
    seasons = parse_seasons(train_seasons) or []
    chosen = [m.strip() for m in markets.split(",") if m.strip()]
    if strategy not in ("outcome", "close"):
        raise typer.BadParameter(f"--strategy is outcome or close, got {strategy!r}")
    if strategy == "close" and markets == DEFAULT_MARKETS:
        chosen = ["moneyline", "total"]  # no opening run line: the close strategy bets these two
    policy = _policy(kelly_fraction, min_edge, method)
    if test_seasons is not None:
        if test_season is not None:
            raise typer.BadParameter("give --test-season or --test-seasons, not both")
        from mlbedge.cli.backtest_seasons import backtest_seasons

        backtest_seasons(
            settings=settings, train=seasons, tests=parse_seasons(test_seasons) or [], markets=chosen,
            policy=policy, bankroll=bankroll, params=model_params(settings, rounds), json_out=json_out,
            report=report, log=log, gate=gate, max_edge=max_edge, strategy=strategy, margin=close_margin,
        )  # fmt: skip
        return
    if test_season is None:
        raise typer.BadParameter("give --test-season (one season) or --test-seasons (several)")
    from mlbedge.training.model_cache import ModelCache

    try:
        with connect(settings) as conn:
            season = run_season(
                conn,
                seasons,
                test_season,
                markets=chosen,
                policy=policy,
                bankroll=bankroll,
                model_params=model_params(settings, rounds),
                gate=gate,
                max_edge=max_edge,
                cache=ModelCache.for_settings(settings) if settings.train_model_cache else None,
                strategy=strategy,
                margin=close_margin,
            )
    except (MissingFeaturesError, LookupError, ValueError) as exc:
        raise fail(str(exc)) from exc
    doc = season.to_json()
    _print_summary(doc)
    from mlbedge.serving.dashboard import save_backtest  # the dashboard shows the latest backtest

    save_backtest(season, doc, settings)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2, default=str))
        console.print(f"numbers written to {json_out}")
    html = season_report(season, doc) if (report is not None or log) else None
    if not log:
        if report is not None and html is not None:
            write_report(html, report)
            console.print(f"report written to {report}")
        return
    assert html is not None
    from mlbedge.training import registry

    run_id = log_backtest(
        season, doc, html, markets=chosen, bankroll=bankroll, report=report, settings=settings
    )
    if report is not None:
        console.print(f"report written to {report}")
    console.print(f"logged to MLflow run {run_id} ({registry.tracking_uri(settings)})", soft_wrap=True)


def print_verdict(doc: dict[str, Any]) -> None:
    """The one line first, then each market's gate: bet or not, and why."""
    console.print(f"[bold]{doc['verdict']}[/]", soft_wrap=True)
    for market in ("moneyline", "total", "runline"):
        gate = (doc.get(market) or {}).get("gate")
        if gate:
            mark = "[green]✓[/]" if gate["passed"] else "[red]✗[/]"
            console.print(f"  {mark} {gate['reason']}", soft_wrap=True)


def print_moves(doc: dict[str, Any]) -> None:
    """The close strategy's move models, out of sample: R², direction hit rate, flat-stake CLV."""
    for market in ("moneyline", "total"):
        move = (doc.get(market) or {}).get("move")
        if not move or move.get("r2") is None:
            continue
        low, high = move["r2_ci"]
        hit = (
            ""
            if move["hit_rate"] is None
            else f", direction hit rate {move['hit_rate']:.3f} on {move['n_signalled']:,}"
        )
        console.print(
            f"  {market}: move R² {move['r2']:+.4f} ({_signed(low)}, {_signed(high)}) on {move['n_games']:,} "
            f"games{hit}; log loss open {_num(move['log_loss_open'])} / open+move "
            f"{_num(move['log_loss_open_plus_move'])} / close {_num(move['log_loss_close'])}",
            soft_wrap=True,
        )


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.4f}"


def _print_summary(doc: dict[str, Any]) -> None:
    print_verdict(doc)
    print_moves(doc)
    at = " at the open (close strategy)" if doc.get("strategy") == "close" else ""
    table = Table(
        title=f"Backtest {doc['test_season']}{at} (trained on {doc['train_seasons'][0]}-{doc['train_seasons'][-1]})"
    )
    for column in (
        "market", "games", "model LL", "open LL", "close LL", "bets", "staked", "ROI", "CLV", "max DD", "bankroll",
    ):  # fmt: skip
        table.add_column(column, justify="left" if column == "market" else "right")
    for market in ("moneyline", "total", "runline", "all"):
        d = doc[market]
        forecasts = market != "all"
        table.add_row(
            market,
            f"{d['n_games']:,}" if forecasts else "",
            _num(d["model"]["log_loss"]) if forecasts else "",
            _num(d["market_open"]["log_loss"]) if forecasts else "",
            _num(d["market_close"]["log_loss"]) if forecasts else "",
            f"{d['n_bets']:,}",
            f"{d['staked']:,.0f}",
            _pct(d["roi"]),
            _pct(d["clv_mean"]),
            _pct(d["max_drawdown"], 1),
            f"{d['final_bankroll']:,.2f}",
        )
    console.print(table)


def _load_model(reference: str, settings: Any) -> Any:
    """The model ``reference`` names (see :func:`mlbedge.training.registry.parse_model_reference`)."""
    from mlbedge.training import registry

    try:
        ref = registry.parse_model_reference(reference, settings)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        return registry.load_serving_model(ref.name, alias=ref.alias, version=ref.version, settings=settings)
    except Exception as exc:  # MLflow raises its own types for a missing model or version
        raise fail(f"cannot load {reference} ({ref.name}): {exc}") from exc


def compare(
    a: str = typer.Argument(
        ..., help="Champion: NAME@ALIAS, NAME/VERSION or models:/NAME@ALIAS, e.g. moneyline@champion."
    ),
    b: str = typer.Argument(..., help="Challenger, the same way, e.g. moneyline@challenger."),
    test_seasons: str | None = typer.Option(
        None, "--test-seasons", help="Seasons to compare on (default: every season after both windows)."
    ),
    bankroll: float = typer.Option(1000.0, "--bankroll", help="Starting bankroll of each backtest."),
    kelly_fraction: float = typer.Option(0.25, "--kelly-fraction", help="Share of full Kelly staked."),
    min_edge: float = typer.Option(0.0, "--min-edge", help="Smallest expected profit per unit worth a bet."),
    margin: float = typer.Option(0.0, "--margin", help="Log-loss gain the challenger needs."),
    alpha: float | None = typer.Option(
        None, "--alpha", help="Also require a significant Diebold-Mariano test."
    ),
    min_games: int = typer.Option(100, "--min-games", help="Fewest games to decide on."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the comparison here.", dir_okay=False),
    home: Path | None = HomeOption,
) -> None:
    """Champion A against challenger B on the same unseen games: log loss (bootstrap CI, Diebold-Mariano),
    ROI and CLV of a backtest each, and whether the gate would promote B."""
    from mlbedge.research.compare import compare_models
    from mlbedge.training import registry
    from mlbedge.training.dataset import MissingFeaturesError

    settings = settings_for(home)
    registry.configure(settings)
    champion, challenger = _load_model(a, settings), _load_model(b, settings)
    policy = _policy(kelly_fraction, min_edge, "simultaneous")
    try:
        with connect(settings) as conn:
            result = compare_models(
                conn,
                champion,
                challenger,
                seasons=parse_seasons(test_seasons),
                policy=policy,
                bankroll=bankroll,
                margin=margin,
                alpha=alpha,
                min_games=min_games,
            )
    except (MissingFeaturesError, LookupError, ValueError) as exc:
        raise fail(str(exc)) from exc
    f, m = result.forecasts, result.betting
    table = Table(
        title=f"{result.target}: {a} (A) vs {b} (B), games after {result.after}, seasons {result.seasons}"
    )
    for column in ("", "A", "B", "B - A (95% CI)"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row(
        "log loss",
        _num(f.log_loss_a),
        _num(f.log_loss_b),
        f"{f.difference.estimate:+.4f} ({f.difference.low:+.4f}, {f.difference.high:+.4f})",
    )
    table.add_row("Brier", _num(f.brier_a), _num(f.brier_b), f"{f.brier_b - f.brier_a:+.4f}")
    table.add_row("bets", f"{m.n_bets_a:,}", f"{m.n_bets_b:,}", "")
    table.add_row(
        "ROI",
        _pct(m.roi_a),
        _pct(m.roi_b),
        _interval_pct(m.roi_difference.estimate, m.roi_difference.low, m.roi_difference.high),
    )
    table.add_row(
        "CLV",
        _pct(m.clv_a),
        _pct(m.clv_b),
        _interval_pct(m.clv_difference.estimate, m.clv_difference.low, m.clv_difference.high),
    )
    console.print(table)
    console.print(
        f"{f.n_games:,} games over {f.n_days} days; Diebold-Mariano {f.dm.statistic:+.3f} "
        f"(p = {f.dm.p_value:.4f}, {f.dm.lags} lags)"
    )
    console.print(
        ("[green]" if result.decision.promote else "[yellow]") + result.decision.reason + "[/]",
        soft_wrap=True,
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.as_dict(), indent=2, default=str))


def _interval_pct(estimate: float, low: float, high: float) -> str:
    if not math.isfinite(estimate):
        return ""
    bounds = f" ({low * 100:+.2f}%, {high * 100:+.2f}%)" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{estimate * 100:+.2f}%{bounds}"
