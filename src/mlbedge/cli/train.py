"""``mlbedge train``, ``mlbedge retrain`` and ``mlbedge models list|promote|evaluate|tune``.

Thin: parse, call :mod:`mlbedge.training`, print. MLflow and LightGBM are imported inside the
commands so that the rest of the CLI starts without them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from mlbedge.cli.features import parse_seasons
from mlbedge.cli.options import HomeOption, RoundsOption, console, fail, parse_date, print_frame, settings_for
from mlbedge.storage.database import connect

DEFAULT_TARGETS = "moneyline,total,runline"

models_app = typer.Typer(
    help="Registered models: list, promote, walk-forward evaluation, tuning.", no_args_is_help=True
)


def _targets(text: str) -> list:
    from mlbedge.training.targets import parse_targets

    try:
        return parse_targets(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def champion_note(target: str, version: str, champion_version: str | None) -> str:
    """Which version serves ``target`` after training, and how to promote the new one if it does not."""
    if champion_version == version:
        return f"version {version} is the champion: the API and backtests use it"
    held = f"version {champion_version}" if champion_version else "no version"
    return (
        f"the champion is still {held} (the API serves it); to serve the new one: "
        f"mlbedge models promote {target} {version}"
    )


def train(
    train_seasons: str | None = typer.Option(
        None, "--train-seasons", help="Seasons to train on, e.g. 2010-2019 (default: every season loaded)."
    ),
    targets: str = typer.Option(
        DEFAULT_TARGETS, "--targets", help="Comma-separated: moneyline,total,runline,total_runs,run_diff."
    ),
    promote: bool = typer.Option(False, "--promote", help="Make the new versions champion right away."),
    rounds: int | None = RoundsOption,
    home: Path | None = HomeOption,
) -> None:
    """Train one model per target, log it to MLflow and register it (alias challenger; champion if first)."""
    from mlbedge.training import registry
    from mlbedge.training.dataset import MissingFeaturesError, load_training_data
    from mlbedge.training.trainer import model_params

    settings = settings_for(home)
    chosen = _targets(targets)
    seasons = parse_seasons(train_seasons)
    try:
        with connect(settings) as conn:
            data = load_training_data(conn, seasons=seasons, open_time=any(t.open_time for t in chosen))
    except (MissingFeaturesError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"training on {len(data.features):,} games, seasons {data.seasons[0]}-{data.seasons[-1]}, "
        f"feature set [bold]{data.feature_set_version}[/]; MLflow: {registry.tracking_uri(settings)}"
    )
    published = registry.train_and_register(
        data, chosen, settings=settings, params=model_params(settings, rounds), promote=promote
    )
    for done in published:
        trained, target = done.trained, done.target
        report = trained.model.calibration_report_
        quality = (
            f", OOF log loss {report['oof_log_loss_raw']:.4f}, validation ECE "
            f"{_fmt(report.get('cal_valid_ece_calibrated'))}"
            if "oof_log_loss_raw" in report
            else ""
        )
        console.print(
            f"[bold]{target.name}[/]: {trained.n_train:,} games {trained.train_start}..{trained.train_end}, "
            f"{trained.model.best_iteration_} rounds, calibration {trained.model.calibrator_.method}{quality} "
            f"-> {done.logged.name} version {done.version}, aliases {','.join(done.aliases)} "
            f"({trained.seconds:.1f} s)",
            soft_wrap=True,
        )
        holder = (
            None if "champion" in done.aliases else registry.champion(done.logged.name, settings=settings)
        )
        held = (
            done.version
            if holder is None and "champion" in done.aliases
            else (None if holder is None else str(holder.version))
        )
        console.print(f"  {champion_note(target.name, done.version, held)}")


def retrain(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Cycle date YYYY-MM-DD (default: the day after the last final score)."
    ),
    targets: str = typer.Option(DEFAULT_TARGETS, "--targets", help="Comma-separated targets."),
    force: bool = typer.Option(False, "--force", help="Run even when the last cycle is recent."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the decisions here.", dir_okay=False
    ),
    rounds: int | None = RoundsOption,
    home: Path | None = HomeOption,
) -> None:
    """One sliding-window retraining cycle: train challengers, promote those that beat the champion."""
    from mlbedge.training.dataset import MissingFeaturesError
    from mlbedge.training.retrain import retrain_cycle
    from mlbedge.training.trainer import model_params

    settings = settings_for(home)
    chosen = _targets(targets)
    when = parse_date(as_of, "--as-of")
    try:
        with connect(settings) as conn:
            decisions = retrain_cycle(
                conn,
                chosen,
                as_of=when,
                force=force,
                settings=settings,
                model_params=model_params(settings, rounds),
            )
    except (MissingFeaturesError, LookupError, ValueError) as exc:
        raise fail(str(exc)) from exc
    table = Table(title=f"Retraining cycle at {decisions[0].as_of if decisions else when}")
    for column in ("target", "due", "challenger", "champion", "games", "challenger", "champion", "decision"):
        table.add_column(column)
    for d in decisions:
        table.add_row(
            d.target,
            "yes" if d.due else "no",
            d.challenger_version or "",
            d.champion_version or "",
            str(d.n_eval_games),
            _fmt(d.challenger_score),
            _fmt(d.champion_score),
            ("[green]promoted[/]" if d.promoted else "kept") + f": {d.reason}",
        )
    console.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps([d.as_dict() for d in decisions], indent=2))


@models_app.command("list")
def list_models(home: Path | None = HomeOption) -> None:
    """Every registered version: name, version, aliases, feature set, training window."""
    from mlbedge.training import registry

    settings = settings_for(home)
    registry.configure(settings)
    frame = registry.list_models(settings=settings)
    if frame.is_empty():
        console.print(f"no registered models in {registry.tracking_uri(settings)}; run `mlbedge train`")
        return
    shown = frame.select(
        "name",
        "version",
        "aliases",
        (pl.col("train_start") + ".." + pl.col("train_end")).alias("window"),
        pl.col("n_train").alias("games"),
        "calibration",
        "feature_set",
    )
    console.print(f"registry: {registry.tracking_uri(settings)}", soft_wrap=True)
    print_frame(shown, title="Registered models")


@models_app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Registered model name (or a target: moneyline, total, ...)."),
    version: str = typer.Argument(..., help="Version to make champion."),
    home: Path | None = HomeOption,
) -> None:
    """Make VERSION the champion of NAME (the one it replaces keeps the alias previous_champion)."""
    from mlflow.exceptions import MlflowException

    from mlbedge.training import registry
    from mlbedge.training.targets import TARGETS

    settings = settings_for(home)
    registry.configure(settings)
    full = registry.model_name(name, settings) if name in TARGETS else name
    try:
        replaced = registry.promote(full, version, settings=settings)
    except MlflowException as exc:
        raise fail(f"cannot promote {full} version {version}: {exc.message}") from exc
    console.print(
        f"{full} version {version} is champion" + (f" (was version {replaced})" if replaced else "")
    )


def _without_families(names: Sequence[str], families: str) -> list[str]:
    """``names`` less the features of the comma-separated ``families`` (BadParameter names an unknown one)."""
    from mlbedge.features.registry import Family, registry

    dropped: set[str] = set()
    for text in filter(None, (f.strip() for f in families.split(","))):
        try:
            family = Family(text)
        except ValueError:
            raise typer.BadParameter(
                f"unknown family {text!r}; known: {', '.join(f.value for f in Family)}"
            ) from None
        dropped |= {f.name for f in registry().family(family)}
    return [n for n in names if n not in dropped]


@models_app.command("evaluate")
def evaluate(
    test_seasons: str = typer.Option(
        "2015-2020", "--test-seasons", help="Seasons to test, each on a model of earlier data."
    ),
    targets: str = typer.Option(DEFAULT_TARGETS, "--targets", help="Comma-separated targets."),
    window: str = typer.Option("expanding", "--window", help="expanding or sliding."),
    train_seasons_n: int | None = typer.Option(None, "--window-seasons", help="Seasons in a sliding window."),
    gap_days: int = typer.Option(0, "--gap-days", help="Days left out between training and test."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write the scores and differences here.", dir_okay=False
    ),
    log: bool = typer.Option(True, "--log/--no-log", help="Log the comparison to MLflow."),
    rounds: int | None = RoundsOption,
    drop_families: str = typer.Option(
        "", "--drop-families", help="Comma-separated feature families left out (an ablation)."
    ),
    move_threshold: float = typer.Option(
        0.04, "--move-threshold", help="Move targets: the |predicted move| (logit) the hit rate counts."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Walk-forward: the model against the de-vigged opening line, the price at the cutoff (the one
    bet into) and the closing line, on the same games. The move targets (close_moneyline,
    close_total) are scored by R² of the open-to-close move, direction hit rate and the log loss
    of "open + predicted move"."""
    from mlbedge.training.dataset import MissingFeaturesError, load_training_data
    from mlbedge.training.evaluation import compare, markdown_table
    from mlbedge.training.move import markdown_move_table, move_report
    from mlbedge.training.trainer import model_params
    from mlbedge.training.walk_forward import run_walk_forward, season_folds

    settings = settings_for(home)
    chosen = _targets(targets)
    tests = parse_seasons(test_seasons) or []
    if window not in ("expanding", "sliding"):
        raise typer.BadParameter("--window is expanding or sliding")
    try:
        with connect(settings) as conn:
            data = load_training_data(
                conn,
                seasons=[s for s in range(2000, max(tests) + 1)],
                open_time=any(t.open_time for t in chosen),
            )
        folds = season_folds(
            data.features, tests, window=window, train_seasons=train_seasons_n, gap_days=gap_days
        )  # type: ignore[arg-type]
    except (MissingFeaturesError, ValueError) as exc:
        raise fail(str(exc)) from exc
    labelled = {t.name: data.labelled(t) for t in chosen}
    feature_names = _without_families(data.feature_names, drop_families)
    from mlbedge.training.model_cache import ModelCache

    result = run_walk_forward(
        labelled,
        chosen,
        folds,
        feature_names,
        model_params=model_params(settings, rounds),
        cache=ModelCache.for_settings(settings) if settings.train_model_cache else None,
        feature_set_version=data.feature_set_version,
    )
    scores, differences = compare(result.predictions)
    moves = move_report(result.predictions, threshold=move_threshold)
    for target in chosen:
        if target.open_time:
            console.print(f"\n[bold]{target.name}[/]: the open-to-close move (logit), out of sample")
            console.print(markdown_move_table(moves, target.name, move_threshold))
            continue
        console.print(f"\n[bold]{target.name}[/] (same games for every source)")
        console.print(markdown_table(scores, differences, target.name))
        for scope, what in (("open", "opening"), ("asof", "as-of"), ("close", "closing")):
            table = markdown_table(scores, differences, target.name, scope=scope)
            if table:
                console.print(f"[bold]{target.name}[/], every game the {what} line prices (model vs {what})")
                console.print(table)
    console.print(f"\nwalk-forward: {len(result.runs)} models in {result.seconds:.1f} s")
    if log:
        from mlbedge.training import registry

        run_id = registry.log_evaluation(
            scores,
            differences,
            settings=settings,
            params={"test_seasons": test_seasons, "targets": targets, "window": window, "gap_days": gap_days},
            folds=result.runs,
            feature_set_version=data.feature_set_version,
            moves=moves if moves.height else None,
        )
        console.print(f"logged to MLflow run {run_id}")
    if json_out is not None:
        json_out.write_text(
            json.dumps(
                {
                    "scores": scores.to_dicts(),
                    "differences": differences.to_dicts(),
                    "moves": moves.to_dicts(),
                },
                indent=2,
                default=str,
            )
        )


@models_app.command("tune")
def tune(
    target: str = typer.Option("moneyline", "--target", help="One target."),
    validation_seasons: str = typer.Option(
        "2012-2014", "--validation-seasons", help="Seasons scored (never test seasons)."
    ),
    trials: int = typer.Option(20, "--trials", help="Trials to add to the study."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL (default: the setting, else sqlite)."
    ),
    study: str | None = typer.Option(None, "--study", help="Study name (default: mlbedge-<target>)."),
    home: Path | None = HomeOption,
) -> None:
    """Optuna search on validation seasons; several machines can share one PostgreSQL storage."""
    from mlbedge.training.dataset import MissingFeaturesError, load_training_data
    from mlbedge.training.trainer import model_params
    from mlbedge.training.tuning import tune as run_tuning

    settings = settings_for(home)
    chosen = _targets(target)
    seasons = parse_seasons(validation_seasons) or []
    try:
        with connect(settings) as conn:
            data = load_training_data(conn, seasons=list(range(2000, max(seasons) + 1)))
        result = run_tuning(
            data,
            chosen[0],
            validation_seasons=seasons,
            n_trials=trials,
            study_name=study,
            storage=storage,
            fixed_params=model_params(settings),
            settings=settings,
        )
    except (MissingFeaturesError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"study {result.study_name}: {result.n_trials} trials, best {result.best_value:.5f} with {result.best_params}"
    )
