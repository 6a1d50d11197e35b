"""``mlbedge backtest --test-seasons``: several seasons in one walk-forward, thin over
:func:`mlbedge.research.multi_season.run_seasons`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from rich.table import Table

from mlbedge.cli.options import console, fail
from mlbedge.storage.database import connect


def backtest_seasons(
    *,
    settings: Any,
    train: list[int],
    tests: list[int],
    markets: list[str],
    policy: Any,
    bankroll: float,
    params: dict[str, object],
    json_out: Path | None,
    report: Path | None,
    log: bool,
    gate: bool = True,
    max_edge: float | None = None,
    strategy: str = "outcome",
    margin: float = 0.04,
) -> None:
    """Run the seasons, print per-season and pooled numbers, write the JSON and the report, log."""
    from mlbedge.betting.report import render_report, write_report
    from mlbedge.cli.backtest import _num, _pct
    from mlbedge.research.multi_season import run_seasons
    from mlbedge.research.seasons import flat_metrics
    from mlbedge.training.dataset import MissingFeaturesError
    from mlbedge.training.model_cache import ModelCache

    cache = ModelCache.for_settings(settings) if settings.train_model_cache else None
    try:
        with connect(settings) as conn:
            multi = run_seasons(
                conn, train, tests, markets=markets, policy=policy, bankroll=bankroll, model_params=params,
                cache=cache, gate=gate, max_edge=max_edge if gate else None, strategy=strategy, margin=margin,
            )  # fmt: skip
    except (MissingFeaturesError, LookupError, ValueError) as exc:
        raise fail(str(exc)) from exc
    doc = multi.to_json()
    from mlbedge.cli.backtest import print_moves, print_verdict

    print_verdict(doc)
    print_moves(doc)
    at = " at the open (close strategy)" if strategy == "close" else ""
    table = Table(
        title=f"Backtest {tests[0]}-{tests[-1]}{at}, each season trained on every earlier one from {train[0]}"
    )
    for column in ("season", "market", "games", "model LL", "close LL", "bets", "ROI", "CLV", "bankroll"):
        table.add_column(column, justify="left" if column in ("season", "market") else "right")
    blocks = [(str(s), d) for s, d in doc["seasons"].items()] + [("pooled", doc)]
    for label, block in blocks:
        for market in ("moneyline", "total", "runline", "all"):
            d = block[market]
            forecasts = market != "all"
            table.add_row(
                label if market == "moneyline" else "",
                market,
                f"{d['n_games']:,}" if forecasts else "",
                _num(d["model"]["log_loss"]) if forecasts else "",
                _num(d["market_close"]["log_loss"]) if forecasts else "",
                f"{d['n_bets']:,}",
                _pct(d["roi"]),
                _pct(d["clv_mean"]),
                f"{d['final_bankroll']:,.2f}",
            )
    console.print(table)
    models = doc["models"]
    console.print(
        f"{models['trained']} models trained, {models['from_cache']} from the cache; "
        f"{multi.timings['total']:.1f} s"
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2, default=str))
        console.print(f"numbers written to {json_out}")
    html: str | None = None
    if report is not None or log:
        meta = {
            "test seasons": f"{tests[0]}-{tests[-1]}, each trained on every season from {train[0]} before it",
            "feature set": doc["feature_set_version"],
            "starting bankroll": f"{bankroll:,.2f} each season (the curve adds the seasons' profits)",
            **{
                f"season {s}": f"ROI {_pct(d['all']['roi'])}, {d['all']['n_bets']:,} bets, "
                f"moneyline model LL {_num(d['moneyline']['model']['log_loss'])}"
                for s, d in doc["seasons"].items()
            },
        }
        html = render_report(
            multi.pooled_result,
            doc=doc,
            predictions=multi.predictions,
            importance=multi.seasons[-1].importance(),
            meta=meta,
            title=f"mlbedge backtest {tests[0]}-{tests[-1]}",
        )
    if not log:
        if report is not None and html is not None:
            write_report(html, report)
            console.print(f"report written to {report}")
        return
    import mlflow

    from mlbedge.training import registry

    assert html is not None
    experiment_id = registry.configure(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"backtest-{tests[0]}-{tests[-1]}") as run:
        mlflow.log_params(
            {
                "train_seasons": f"{train[0]}-{train[-1]}",
                "test_seasons": f"{tests[0]}-{tests[-1]}",
                "markets": ",".join(markets),
                "strategy": strategy,
                "bankroll": bankroll,
                "feature_set_version": doc["feature_set_version"],
            }
        )
        mlflow.log_metrics(flat_metrics(doc))
        mlflow.set_tags({"mlbedge.kind": "backtest", "mlbedge.test_seasons": f"{tests[0]}-{tests[-1]}"})
        mlflow.log_dict(doc, "backtest.json")
        if report is not None:
            write_report(html, report)
            console.print(f"report written to {report}")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                write_report(html, Path(tmp) / f"backtest_{tests[0]}_{tests[-1]}.html")
        console.print(
            f"logged to MLflow run {run.info.run_id} ({registry.tracking_uri(settings)})", soft_wrap=True
        )
