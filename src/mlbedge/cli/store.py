"""The online store from the command line: ``mlbedge features materialize`` and ``mlbedge feast ...``.

``materialize`` is registered on the ``features`` group (it moves curated features into the
online store); ``feast_app`` is the ``mlbedge feast`` group (optional Feast integration).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mlbedge.cli.options import HomeOption, console, fail, parse_dates, settings_for
from mlbedge.settings import Settings
from mlbedge.storage.database import connect
from mlbedge.store.base import StoreError, StoreUnavailableError

feast_app = typer.Typer(
    help="Feast integration (needs `pip install 'mlbedge[feast]'`): a Feast repo generated from the registry.",
    no_args_is_help=True,
)


def _seasons(text: str | None) -> list[int] | None:
    # Imported here: mlbedge.cli.features imports this module to register `materialize`.
    from mlbedge.cli.features import parse_seasons

    return parse_seasons(text)


def materialize(
    day: str | None = typer.Option(
        None, "--date", help="Only this date's slate (YYYY-MM-DD; commas for more)."
    ),
    seasons: str | None = typer.Option(None, "--seasons", help="Only these seasons, e.g. 2019-2020."),
    home: Path | None = HomeOption,
) -> None:
    """Copy curated features into the online store; each slate switches atomically. Idempotent."""
    from mlbedge.store.factory import redis_store
    from mlbedge.store.materialize import materialize as run

    settings = settings_for(home)
    if day is not None and seasons is not None:
        raise fail("give --date or --seasons, not both")
    dates, wanted = parse_dates(day), _seasons(seasons)
    store = redis_store(settings)
    try:
        with connect(settings) as conn:
            report = run(conn, store, dates=dates, seasons=wanted)
    except (LookupError, StoreError) as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()
    console.print(
        f"materialized {_count(report.games, 'game')} on {_count(report.dates, 'date')} (feature set "
        f"[bold]{report.feature_set_version}[/]) into the {store.backend} store "
        f"(prefix {settings.store_key_prefix}): {_count(report.switched, 'slate')} switched, "
        f"{report.unchanged} unchanged, in {report.seconds['total']:.2f} s"
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _repo_path(settings: Settings, repo: Path | None) -> Path:
    return repo or settings.home / "feast"


def _feast_redis_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise fail(
            "Feast reaches Redis over TCP only: set MLBEDGE_REDIS_URL (the embedded store's unix socket "
            "cannot be shared with Feast)"
        )
    return settings.redis_url


RepoOption = typer.Option(
    None, "--repo", help="Feast repo folder (default: MLBEDGE_HOME/feast).", file_okay=False
)
ProjectOption = typer.Option("mlbedge", "--project", help="Feast project name (letters, digits, _).")


@feast_app.command("apply")
def feast_apply(
    repo: Path | None = RepoOption,
    project: str = ProjectOption,
    home: Path | None = HomeOption,
) -> None:
    """Generate the Feast repo from the feature registry (entity game, a view per family) and apply it."""
    from mlbedge.features.registry import feature_set_version, registry
    from mlbedge.store.feast import generate_repo, ops

    settings = settings_for(home)
    redis_url = _feast_redis_url(settings)
    try:
        ops.require_feast()
        spec = generate_repo(
            _repo_path(settings, repo),
            redis_url=redis_url,
            feature_set_version=feature_set_version(settings.cutoff_minutes),
            project=project,
            ttl_seconds=settings.store_ttl_seconds,
        )
        names = ops.apply(spec)
    except (StoreError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"applied Feast project [bold]{project}[/] at {spec.path}: {len(registry())} features")
    console.print(f"  objects: {', '.join(names)}")


@feast_app.command("materialize")
def feast_materialize(
    seasons: str | None = typer.Option(None, "--seasons", help="Seasons to export and load, e.g. 2019-2020."),
    repo: Path | None = RepoOption,
    project: str = ProjectOption,
    home: Path | None = HomeOption,
) -> None:
    """Export curated features as the repo's Parquet source, then Feast-materialize them into Redis."""
    from mlbedge.store.feast import FeastRepo, ops

    settings = settings_for(home)
    spec = FeastRepo(_repo_path(settings, repo).resolve(), project)
    if not spec.registry_path.exists():
        raise fail(f"no Feast registry at {spec.registry_path}: run `mlbedge feast apply` first")
    try:
        ops.require_feast()
        with connect(settings) as conn:
            rows, version = ops.export_offline(conn, spec, seasons=_seasons(seasons))
        start, end = ops.materialize(spec)
    except (LookupError, StoreError, StoreUnavailableError) as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"Feast materialized {rows:,} games (feature set {version}) with as_of in "
        f"[{start.isoformat()}, {end.isoformat()}) from {spec.parquet_path}"
    )
