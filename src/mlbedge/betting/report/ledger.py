"""The ledger report: one self-contained HTML page of the bets a person placed.

The verdict first (settled bets, staked, profit, ROI with its interval, closing-line value, the
largest fall of cumulative profit), then profit and closing-line value over time as inline-SVG
charts, and every bet in a table. Nothing is fetched; it renders the same offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

import polars as pl

from mlbedge.betting.ledger import LedgerReport, side_line_expr
from mlbedge.betting.report import _CSS, ATTRIBUTION, _figure, charts


def _epoch(dates: pl.Series) -> list[float]:
    return [datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() for d in dates.to_list()]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return escape(str(value))


def bets_table(bets: pl.DataFrame) -> str:
    """Every bet: date, game, market, the side with its own line, price, stake, book, result,
    profit and closing-line value."""
    if bets.is_empty():
        return '<p class="empty-note">No bets recorded.</p>'
    shown = bets.select(
        "bet_id",
        "date",
        pl.format("{} @ {}", "away_team", "home_team").alias("game"),
        "market",
        side_line_expr().alias("bet"),
        pl.when(pl.col("odds") > 0)
        .then(pl.format("+{}", "odds"))
        .otherwise(pl.col("odds").cast(pl.String))
        .alias("odds"),
        "stake",
        "book",
        pl.col("result").fill_null("open"),
        "profit",
        pl.when(pl.col("clv").is_not_null())
        .then(pl.format("{}%", (pl.col("clv") * 100).round(2)))
        .alias("clv"),
    )
    head = "".join(f"<th>{escape(c)}</th>" for c in shown.columns)
    body = "".join(
        f'<tr class="bet {escape(str(row[8]))}">' + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in shown.iter_rows()
    )
    return f'<table id="bets"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_ledger_report(report: LedgerReport, bets: pl.DataFrame) -> str:
    """The page (see the module docstring)."""
    by_day = report.by_day
    if by_day.height >= 2:
        x = _epoch(by_day["date"])
        profit_svg: str | None = charts.line_chart(
            "Cumulative profit",
            {"profit": (x, by_day["cumulative_profit"].to_list())},
            x_label="date of the game",
            y_label="profit",
            baseline=0.0,
        )
        clv_rows = by_day.filter(pl.col("cumulative_clv_mean").is_not_null())
        clv_svg: str | None = (
            charts.line_chart(
                "Mean closing-line value so far",
                {"CLV": (_epoch(clv_rows["date"]), clv_rows["cumulative_clv_mean"].to_list())},
                x_label="date of the game",
                y_label="mean CLV per unit staked",
                baseline=0.0,
            )
            if clv_rows.height >= 2
            else None
        )
    else:
        profit_svg = clv_svg = None
    empty = "Fewer than two days of settled bets: nothing to draw yet."
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>mlbedge: bets placed</title><style>{_CSS}</style></head>
<body>
<h1>Bets placed</h1>
<p class="verdict" id="verdict"><strong>{escape(report.verdict())}</strong></p>
<h2>Profit over time</h2>
{_figure("ledger-profit", profit_svg, "Cumulative profit of the settled bets, by the game's date.", empty)}
<h2>Closing-line value over time</h2>
{_figure("ledger-clv", clv_svg, "Mean CLV of the settled bets up to each day (the price taken against the de-vigged close of the same side and line; above zero beats the close).", empty)}
<h2>Every bet</h2>
{bets_table(bets)}
<footer>{ATTRIBUTION}</footer>
</body></html>
"""
