"""Entry point: ``mlbedge <group> <command>``."""

from __future__ import annotations

import typer

from mlbedge.cli import backtest as backtest_cli
from mlbedge.cli import bets as bets_cli
from mlbedge.cli import data, demo, features, ingest, store
from mlbedge.cli import monitor as monitor_cli
from mlbedge.cli import pipeline as pipeline_cli
from mlbedge.cli import serve as serve_cli
from mlbedge.cli import train as train_cli
from mlbedge.cli.options import quiet_mlflow

app = typer.Typer(
    name="mlbedge",
    help="MLB predictions against the betting market, with Kelly staking and honest backtests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show MLflow's own INFO logs (run links, registry waits, migrations)."
    ),
) -> None:
    """Quiet MLflow by default: its INFO lines drown what mlbedge prints."""
    quiet_mlflow(verbose=verbose)


app.add_typer(data.app, name="data")
app.add_typer(ingest.app, name="ingest")
app.add_typer(features.app, name="features")
app.add_typer(store.feast_app, name="feast")
app.add_typer(monitor_cli.app, name="monitor")
app.add_typer(pipeline_cli.app, name="pipeline")
app.add_typer(bets_cli.app, name="bets")
app.command("demo")(demo.demo)
app.command("serve")(serve_cli.serve)
app.command("train")(train_cli.train)
app.command("retrain")(train_cli.retrain)
app.add_typer(train_cli.models_app, name="models")
app.command("backtest")(backtest_cli.backtest)
train_cli.models_app.command("compare")(backtest_cli.compare)

if __name__ == "__main__":  # pragma: no cover
    app()
