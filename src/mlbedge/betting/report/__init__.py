"""The backtest report: one self-contained HTML file a person can open offline.

Everything is in the file: the numbers table, and inline-SVG charts drawn here
(:mod:`mlbedge.betting.report.charts`) of the bankroll curve, the reliability diagram (model
against the opening and closing lines), the distribution of closing-line value, ROI by edge
bucket and by month, and the models' feature importance. There is no script, no stylesheet link
and no font or image fetched: it renders the same without a network. :func:`write_report` also
logs the file to MLflow as an artifact when an MLflow run is active.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from mlbedge.betting.backtest import MARKETS, BacktestResult
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.metrics import calibration_bins
from mlbedge.betting.report import charts

EDGE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0-2%", 0.0, 0.02),
    ("2-4%", 0.02, 0.04),
    ("4-6%", 0.04, 0.06),
    ("6-10%", 0.06, 0.10),
    ("10%+", 0.10, math.inf),
)
# A bin of a handful of games is noise drawn as a point: the diagram leaves it out.
MIN_BIN_GAMES = 20
SOURCE_NAMES = {"p_model": "model", "market_open": "opening line", "market_close": "closing line"}
# Attribution the data's terms ask for wherever a product built on it is shown.
ATTRIBUTION = (
    "Odds and scores: Source: sportsbookreviewsonline.com (SBRO archives, internal use). "
    "Market odds from Pinnacle, via the pinnacle.data R package (Blume &amp; Yan), GPL-3. "
    "The information used here was obtained free of charge from and is copyrighted by Retrosheet. "
    "Interested parties may contact Retrosheet at &quot;www.retrosheet.org&quot;."
)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1100px;
       color: #222; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead th { background: #f4f4f4; }
tr.group td { background: #fafafa; font-weight: 600; text-align: left; }
.meta td { text-align: left; } .muted { color: #777; }
figure.chart { margin: 12px 0 24px; } figure.chart svg { width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.9em; margin-top: 4px; }
.empty-note { color: #777; font-style: italic; border: 1px dashed #ccc; padding: 16px; }
.table-scroll { overflow-x: auto; max-height: 640px; overflow-y: auto; }
table.bets td, table.bets th { white-space: nowrap; } tr.bet.win td.result { color: #2ca02c; }
tr.bet.loss td.result { color: #d62728; }
svg .axis { stroke: #333; stroke-width: 1; } svg .grid { stroke: #eee; stroke-width: 1; }
svg .reference { stroke: #888; stroke-width: 1; stroke-dasharray: 4 3; }
svg .mean { stroke: #333; stroke-width: 1.5; }
svg text { font-size: 11px; fill: #333; } svg .label { font-size: 12px; fill: #555; }
svg .legend { font-size: 12px; } svg .count { font-size: 10px; fill: #555; }
footer { margin-top: 40px; font-size: 0.8em; color: #777; }
.verdict { font-size: 1.15em; background: #f6f8fa; border-left: 4px solid #1f77b4; padding: 8px 12px; }
ul.gates { padding-left: 18px; } li.gate.failed strong { color: #d62728; } li.gate.passed strong { color: #2ca02c; }
"""


def _pct(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value * 100:.{digits}f}%"


def _num(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _ci(values: list[float | None] | None, fmt: Any) -> str:
    if not values or values[0] is None or values[1] is None:
        return ""
    return f" ({fmt(values[0])} to {fmt(values[1])})"


def _figure(chart_id: str, svg: str | None, caption: str, empty: str) -> str:
    if svg is None:
        return (
            f'<figure class="chart empty" id="{chart_id}"><p class="empty-note">{escape(empty)}</p>'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return f'<figure class="chart" id="{chart_id}">{svg}<figcaption>{caption}</figcaption></figure>'


# ----------------------------------------------------------------------------------------------
# sections


def _difference_cell(key: str) -> Any:
    """A model - benchmark log-loss difference with its interval (over dates), or nothing."""
    return lambda d: (
        f"{d[key]['estimate']:+.4f}" + _ci(d[key]["ci"], lambda v: f"{v:+.4f}") if d.get(key) else ""
    )


def numbers_table(doc: Mapping[str, Any]) -> str:
    """The numbers of every market (and of all bets) as an HTML table."""
    columns = [m for m in (*MARKETS, "all") if m in doc]

    def cell(market: str, getter: Any) -> str:
        try:
            return getter(doc[market])
        except (KeyError, TypeError):
            return ""

    def score(source: str, metric: str, digits: int = 4) -> Any:
        return lambda d: _num(d[source][metric], digits) if d[source][metric] is not None else ""

    rows: list[tuple[str, Any] | str] = [
        "Forecasts (same games)",
        ("games scored", lambda d: f"{d['n_games']:,}"),
        ("model log loss", score("model", "log_loss")),
        ("opening line log loss", score("market_open", "log_loss")),
        ("price at as_of (bet into) log loss", score("market_asof", "log_loss")),
        ("closing line log loss", score("market_close", "log_loss")),
        ("model - opening log loss (95% CI)", _difference_cell("model_minus_open_log_loss")),
        ("model - price at as_of log loss (95% CI)", _difference_cell("model_minus_asof_log_loss")),
        ("model - closing log loss (95% CI)", _difference_cell("model_minus_close_log_loss")),
        ("model Brier", score("model", "brier")),
        ("opening line Brier", score("market_open", "brier")),
        ("closing line Brier", score("market_close", "brier")),
        ("model accuracy", lambda d: _pct(d["model"]["accuracy"], 1)),
        ("opening line accuracy", lambda d: _pct(d["market_open"]["accuracy"], 1)),
        ("closing line accuracy", lambda d: _pct(d["market_close"]["accuracy"], 1)),
        "Bets",
        ("bets (void)", lambda d: f"{d['n_bets']:,} ({d['n_void']})"),
        ("staked", lambda d: _money(d["staked"])),
        ("profit", lambda d: _money(d["profit"])),
        ("ROI (95% CI)", lambda d: _pct(d["roi"]) + _ci(d["roi_ci"], _pct)),
        ("yield (flat stakes)", lambda d: _pct(d["yield"])),
        ("hit rate", lambda d: _pct(d["hit_rate"], 1)),
        ("mean edge at bet time", lambda d: _pct(d.get("mean_edge"))),
        ("CLV mean (95% CI)", lambda d: _pct(d["clv_mean"]) + _ci(d["clv_ci"], _pct)),
        ("bets with a comparable close", lambda d: f"{d['n_clv']:,}"),
        ("max drawdown", lambda d: _pct(d["max_drawdown"], 1)),
        ("final bankroll", lambda d: _money(d["final_bankroll"])),
    ]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        if isinstance(row, str):
            body.append(f'<tr class="group"><td colspan="{len(columns) + 1}">{escape(row)}</td></tr>')
            continue
        label, getter = row
        cells = "".join(f"<td>{escape(cell(m, getter))}</td>" for m in columns)
        body.append(f"<tr><td>{escape(label)}</td>{cells}</tr>")
    return (
        f'<table id="numbers"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _epoch_seconds(column: pl.Series) -> list[float]:
    return (column.dt.epoch("ms").cast(pl.Float64) / 1000.0).to_list()


def bankroll_chart(result: BacktestResult) -> str | None:
    """The bankroll after each observed result: all bets, and each market's share."""
    if result.bets.is_empty():
        return None
    series: dict[str, tuple[list[float], list[float]]] = {}
    for name in (None, *MARKETS):
        if name is not None and result.bets.filter(pl.col("market") == name).is_empty():
            continue
        curve = result.curve(name)
        series["all bets" if name is None else name] = (
            _epoch_seconds(curve["observed_at"]),
            curve["bankroll"].to_list(),
        )
    return charts.line_chart(
        "Bankroll", series, x_label="result observed", y_label="bankroll", baseline=result.initial_bankroll
    )


def reliability_charts(predictions: pl.DataFrame | None, n_bins: int = 10) -> dict[str, str | None]:
    """Per market, the reliability diagram of the model and of the lines priced on the same games."""
    out: dict[str, str | None] = {}
    for name in MARKETS:
        rows = predictions.filter(pl.col("target") == name) if predictions is not None else pl.DataFrame()
        if rows.is_empty():
            out[name] = None
            continue
        sources = ["p_model"] + [
            s for s in ("market_open", "market_close") if rows[s].is_not_null().sum() >= 30
        ]
        common = rows.filter(pl.all_horizontal([pl.col(s).is_not_null() for s in sources]))
        if common.is_empty():
            out[name] = None
            continue
        bins = {}
        for source in sources:
            table = calibration_bins(common[source].to_numpy(), common["y"].to_numpy(), n_bins).filter(
                pl.col("n") >= MIN_BIN_GAMES
            )
            bins[SOURCE_NAMES[source]] = list(
                zip(
                    table["mean_probability"].to_list(),
                    table["frequency"].to_list(),
                    table["n"].to_list(),
                    strict=True,
                )
            )
        out[name] = charts.reliability_chart(f"Reliability, {name} ({common.height} games)", bins)
    return out


def clv_chart(result: BacktestResult) -> str | None:
    """Histogram of each bet's closing-line value."""
    values = result.bets.filter(pl.col("clv").is_not_null())["clv"].to_list()
    if not values:
        return None
    return charts.histogram(
        "Closing-line value per bet",
        values,
        x_label="closing-line value (expected profit per unit at the close)",
    )


def _roi_by(
    frame: pl.DataFrame, key: str, order: list[str]
) -> tuple[list[str], list[float | None], list[int]]:
    grouped = (
        frame.group_by(key)
        .agg(profit=pl.col("profit").sum(), stake=pl.col("stake").sum(), n=pl.len())
        .with_columns(roi=pl.when(pl.col("stake") > 0).then(pl.col("profit") / pl.col("stake")))
    )
    found = {r[key]: r for r in grouped.iter_rows(named=True)}
    labels = [k for k in order if k in found]
    return labels, [found[k]["roi"] for k in labels], [found[k]["n"] for k in labels]


def edge_chart(result: BacktestResult) -> str | None:
    """ROI of the bets grouped by the edge the strategy saw when it placed them."""
    action = result.bets.filter((pl.col("result") != "void") & pl.col("edge").is_not_null())
    if action.is_empty():
        return None
    bucket = pl.lit(None, pl.String)
    for label, low, high in reversed(EDGE_BUCKETS):
        bucket = (
            pl.when((pl.col("edge") >= low) & (pl.col("edge") < high)).then(pl.lit(label)).otherwise(bucket)
        )
    frame = action.with_columns(bucket=bucket).filter(pl.col("bucket").is_not_null())
    labels, values, counts = _roi_by(frame, "bucket", [b[0] for b in EDGE_BUCKETS])
    if not labels:
        return None
    return charts.bar_chart("ROI by edge at bet time", labels, values, counts=counts, y_label="ROI")


def month_chart(result: BacktestResult) -> str | None:
    """ROI to date at the end of each month (profit over turnover of every bet so far), each bar
    annotated with that month's own bets: a month of a few bets moves it only as much as it weighs."""
    action = result.bets.filter(pl.col("result") != "void")
    if action.is_empty():
        return None
    by_month = (
        action.with_columns(month=pl.col("date").dt.strftime("%Y-%m"))
        .group_by("month")
        .agg(profit=pl.col("profit").sum(), stake=pl.col("stake").sum(), n=pl.len())
        .sort("month")
        .with_columns(roi=pl.col("profit").cum_sum() / pl.col("stake").cum_sum())
    )
    pretty = [datetime.strptime(m, "%Y-%m").strftime("%b %Y") for m in by_month["month"].to_list()]
    return charts.bar_chart(
        "ROI to date, by month",
        pretty,
        by_month["roi"].to_list(),
        counts=by_month["n"].to_list(),
        y_label="ROI to date",
    )


BET_TABLE_COLUMNS = (
    "date",
    "game",
    "market",
    "bet",
    "odds",
    "stake",
    "edge",
    "result",
    "profit",
    "close",
    "clv",
)


def bets_table(result: BacktestResult) -> str:
    """Every bet placed: date, game, market, the side with ITS OWN line (the away run line is minus
    the home handicap), price, stake, edge at bet time, result, profit and CLV."""
    bets = result.bets
    if bets.is_empty():
        return '<p class="empty-note" id="bets-empty">No bets were placed.</p>'
    own_line = (
        pl.when((pl.col("market") == "runline") & (pl.col("side") == "away"))
        .then(-pl.col("line"))
        .otherwise(pl.col("line"))
    )
    side = pl.col("side").str.to_titlecase()
    number = own_line.cast(pl.String).str.replace(r"\.0$", "")
    signed = (
        pl.when((pl.col("market") == "runline") & (own_line > 0)).then(pl.lit("+") + number).otherwise(number)
    )
    price = (
        pl.when(pl.col("odds") > 0).then(pl.format("+{}", "odds")).otherwise(pl.col("odds").cast(pl.String))
    )
    optional = [c for c in ("edge", "clv", "close_probability") if c not in bets.columns]
    shown = (
        bets.with_columns([pl.lit(None, pl.Float64).alias(c) for c in optional])
        .sort("date", "game_id", "market", "side")
        .select(
            pl.col("date").cast(pl.String),
            pl.col("game_id").alias("game"),
            "market",
            pl.when(own_line.is_null())
            .then(side)
            .otherwise(pl.concat_str([side, pl.lit(" "), signed]))
            .alias("bet"),
            price.alias("odds"),
            pl.col("stake").round(2).cast(pl.String),
            pl.when(pl.col("edge").is_not_null()).then(pl.format("{}%", (pl.col("edge") * 100).round(1))),
            "result",
            pl.col("profit").round(2).cast(pl.String),
            pl.when(pl.col("close_probability").is_not_null())
            .then(pl.format("{}%", (pl.col("close_probability") * 100).round(1)))
            .alias("close"),
            pl.when(pl.col("clv").is_not_null())
            .then(pl.format("{}%", (pl.col("clv") * 100).round(2)))
            .alias("clv"),
        )
    )
    head = "".join(f"<th>{escape(c)}</th>" for c in BET_TABLE_COLUMNS)
    rows = []
    for row in shown.iter_rows():
        cells = "".join(
            f'<td class="{name}">{escape("" if value is None else str(value))}</td>'
            for name, value in zip(BET_TABLE_COLUMNS, row, strict=True)
        )
        rows.append(f'<tr class="bet {escape(str(row[7]))}">{cells}</tr>')
    return (
        f'<div class="table-scroll"><table id="bets" class="bets"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def importance_charts(importance: Mapping[str, Mapping[str, float]] | None, top: int = 15) -> dict[str, str]:
    """Per market model, its ``top`` inputs by share of the total gain."""
    out = {}
    for name, shares in (importance or {}).items():
        items = list(shares.items())[:top]
        if items:
            out[name] = charts.horizontal_bars(
                f"Feature importance, {name}", items, x_label="share of the model's total gain"
            )
    return out


# ----------------------------------------------------------------------------------------------
# the page


def render_report(
    result: BacktestResult,
    *,
    doc: Mapping[str, Any] | None = None,
    predictions: pl.DataFrame | None = None,
    importance: Mapping[str, Mapping[str, float]] | None = None,
    meta: Mapping[str, str] | None = None,
    title: str = "mlbedge backtest",
) -> str:
    """The report page for a backtest. ``doc`` is the numbers (``SeasonBacktest.to_json()``, else
    the result's own betting summary); ``predictions`` feed the reliability diagrams and
    ``importance`` the feature-importance charts; ``meta`` is shown under the title."""
    numbers = dict(doc) if doc is not None else dict(result.summary())
    if doc is None:
        # Without forecasts only the betting rows have values.
        empty = {"log_loss": None, "brier": None, "accuracy": None, "n_games": 0}
        for name in MARKETS:
            numbers[name] = {
                "n_games": 0, "market_open": empty, "market_close": empty, "model": empty,
                "model_minus_open_log_loss": None, **numbers[name],
            }  # fmt: skip
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta_rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
        for k, v in {**(meta or {}), "generated": generated}.items()
    )
    verdict_line = numbers.get("verdict")
    gates = [
        (m, numbers[m]["gate"])
        for m in MARKETS
        if isinstance(numbers.get(m), dict) and numbers[m].get("gate")
    ]
    gate_items = "".join(
        f'<li class="gate {"passed" if g["passed"] else "failed"}" data-market="{escape(m)}">'
        f"<strong>{'✓' if g['passed'] else '✗'}</strong> {escape(g['reason'])}</li>"
        for m, g in gates
    )
    sections = [
        f"<h1>{escape(title)}</h1>",
        *(
            [f'<p class="verdict" id="verdict"><strong>{escape(verdict_line)}</strong></p>']
            if verdict_line
            else []
        ),
        *([f'<ul class="gates" id="gates">{gate_items}</ul>'] if gate_items else []),
        f'<table class="meta">{meta_rows}</table>',
        "<h2>Numbers</h2>",
        numbers_table(numbers),
        '<p class="muted">ROI is profit over turnover; yield weighs every bet equally (flat stakes). '
        "CLV is the expected profit per unit staked if the de-vigged closing price of the same side at "
        "the same line is the truth. Intervals are 95% bootstrap intervals. A market's drawdown and "
        "final bankroll are the starting bankroll plus that market's profit alone.</p>",
        "<h2>Bankroll</h2>",
        _figure(
            "bankroll",
            bankroll_chart(result),
            "Bankroll after each result is observed (all bets share one bankroll; per market: its own profit).",
            "No bets were placed: the bankroll never moved.",
        ),
        "<h2>Reliability: model against the market</h2>",
    ]
    for name, svg in reliability_charts(predictions).items():
        sections.append(
            _figure(
                f"reliability-{name}",
                svg,
                f"{name}: observed frequency against the mean forecast in each tenth of probability "
                f"(circle area ~ games; bins of fewer than {MIN_BIN_GAMES} games left out), on the games every "
                "line shown prices.",
                f"No scored {name} forecasts.",
            )
        )
    sections += [
        "<h2>Closing-line value</h2>",
        _figure(
            "clv",
            clv_chart(result),
            "Each bet's price against the de-vigged closing price of the same side: right of zero beat the close.",
            "No bet had a comparable closing price.",
        ),
        "<h2>ROI by edge bucket</h2>",
        _figure(
            "roi-edge",
            edge_chart(result),
            "Bets grouped by the model's expected profit per unit when the bet was placed.",
            "No bets with a recorded edge.",
        ),
        "<h2>ROI by month</h2>",
        _figure(
            "roi-month",
            month_chart(result),
            "ROI of every bet placed up to the end of each month (n: that month's bets).",
            "No bets.",
        ),
        "<h2>Feature importance</h2>",
    ]
    importance_svgs = importance_charts(importance)
    if not importance_svgs:
        sections.append(_figure("importance", None, "", "No model importance given."))
    for name, svg in importance_svgs.items():
        sections.append(
            _figure(
                f"importance-{name}", svg, f"{name}: the inputs with the largest share of the total gain.", ""
            )
        )
    sections += [
        "<h2>Every bet</h2>",
        '<p class="muted">Each bet names its own side and line as offered; "close" is the de-vigged '
        "closing probability of that side at that line.</p>",
        bets_table(result),
        f"<footer>{ATTRIBUTION}</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )


class SeasonRun(Protocol):
    """What the report reads of a season backtest (:class:`mlbedge.research.seasons.SeasonBacktest`)."""

    train_seasons: list[int]
    test_season: int
    feature_set_version: str
    cutoff_minutes: int
    policy: StakingPolicy
    result: BacktestResult
    predictions: pl.DataFrame

    def importance(self, top: int = 20) -> dict[str, dict[str, float]]: ...

    def to_json(self, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]: ...


def season_report(season: SeasonRun, doc: Mapping[str, Any] | None = None) -> str:
    """The report of one season's backtest (:func:`mlbedge.research.seasons.run_season`)."""
    policy = season.policy
    meta = {
        "test season": str(season.test_season),
        "trained on": f"{season.train_seasons[0]}-{season.train_seasons[-1]}",
        "feature set": season.feature_set_version,
        "cutoff": f"{season.cutoff_minutes} min before first pitch (start of the local day when unknown)"
        if getattr(season, "strategy", "outcome") != "close"
        else "the open: the start of each game's local date (close strategy, move models)",
        "staking": f"{policy.kelly_fraction:g} Kelly ({policy.method}), min edge {policy.min_edge:g}, "
        f"caps {policy.max_stake_per_bet:g}/bet, {policy.max_stake_per_game:g}/game, "
        f"{policy.max_exposure:g} exposure",
        "starting bankroll": f"{season.result.initial_bankroll:,.2f}",
        "rounds": str(season.result.rounds.height),
    }
    return render_report(
        season.result,
        doc=doc if doc is not None else season.to_json(),
        predictions=season.predictions,
        importance=season.importance(),
        meta=meta,
        title=f"mlbedge backtest {season.test_season}",
    )


def write_report(html: str, path: Path, *, artifact_path: str | None = None) -> Path:
    """Write the page to ``path`` and, when an MLflow run is active, log it as an artifact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    # A run can only be active if MLflow was imported; importing it here just to ask costs seconds.
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and mlflow.active_run() is not None:
        mlflow.log_artifact(str(path), artifact_path=artifact_path)
    return path
