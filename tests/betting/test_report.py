"""The HTML report as a file: self-contained (nothing fetched), every section, numbers as computed."""

from __future__ import annotations

import re

import polars as pl
import pytest

from mlbedge.betting.backtest import ModelStrategy, gain_shares, run_backtest
from mlbedge.betting.report import charts, render_report, write_report
from tests.betting import hand_season as hs
from tests.betting.conftest import Run2016, Season2016
from tests.betting.test_backtest import WIN_G1, WIN_G2, WIN_G5

# Anything that would make a browser reach out: a src/href/url() to another place, an @import.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?!#)|url\(|@import|<link|<script""", re.IGNORECASE)


def _figures(html: str) -> dict[str, bool]:
    """Figure id -> whether it holds a drawn chart (else an empty note)."""
    return {
        m[1]: m[0] != "chart empty"
        for m in re.findall(r'<figure class="(chart(?: empty)?)" id="([^"]+)"', html)
    }


def test_hand_report_numbers_and_sections() -> None:
    """The numbers table shows the hand season's bets; charts without data say so instead."""
    result = run_backtest(hs.inputs(), hs.PlanStrategy())
    html = render_report(result, meta={"season": "hand-built"}, title="hand season")
    assert not EXTERNAL.search(html)
    assert f"{1000 + WIN_G1 + WIN_G2 + WIN_G5:,.2f}" in html  # final bankroll, all bets
    assert f"{(WIN_G1 + WIN_G2 + WIN_G5) / 275 * 100:.2f}%" in html  # ROI of all bets
    figures = _figures(html)
    assert figures["bankroll"] and figures["clv"] and figures["roi-month"]
    assert not figures["roi-edge"]  # the plan strategy records no edge
    assert not figures["reliability-moneyline"] and not figures["importance"]
    assert "No bets with a recorded edge." in html


def test_real_report_every_chart_drawn(season_2016: Season2016, run_2016: Run2016, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real backtest (2016 window, small models): every chart has marks, nothing external."""
    shares = gain_shares(season_2016.models, top=15)
    assert all(
        sum(v.values()) == pytest.approx(1.0) for v in gain_shares(season_2016.models, top=500).values()
    )
    html = render_report(run_2016.result, predictions=season_2016.predictions, importance=shares)
    assert not EXTERNAL.search(html)
    figures = _figures(html)
    expected = {"bankroll", "clv", "roi-edge", "roi-month"} | {
        f"reliability-{m}" for m in ("moneyline", "total", "runline")
    }
    assert expected | {f"importance-{m}" for m in ("moneyline", "total", "runline")} == {
        k for k, v in figures.items() if v
    }
    assert html.count('class="mark') > 50
    path = write_report(html, tmp_path / "nested" / "report.html")
    assert path.read_text() == html


def test_season_report_from_the_cli_run(cli_backtest) -> None:  # type: ignore[no-untyped-def]
    """The CLI's real 2020 report: models' reliability and importance drawn, the rest explained."""
    html = cli_backtest.report_path.read_text()
    assert not EXTERNAL.search(html)
    figures = _figures(html)
    for market in ("moneyline", "total", "runline"):
        assert figures[f"reliability-{market}"] and figures[f"importance-{market}"]
    doc = cli_backtest.doc
    assert f"{doc['moneyline']['market_open']['log_loss']:.4f}" in html
    assert "2010-2019" in html and "fs-" in html
    if doc["all"]["n_bets"] == 0:
        assert not figures["bankroll"] and "No bets were placed" in html


def test_no_bets_report() -> None:
    result = run_backtest(hs.inputs(), lambda context: pl.DataFrame())
    html = render_report(result)
    figures = _figures(html)
    assert not any(figures.values())
    assert html.count("<svg") == 0 and "No bets were placed" in html


def test_nice_ticks() -> None:
    assert charts.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert charts.nice_ticks(812.0, 1033.0) == [850.0, 900.0, 950.0, 1000.0]
    assert charts.nice_ticks(-0.15, 0.05) == pytest.approx([-0.15, -0.1, -0.05, 0.0, 0.05])


def test_model_strategy_edges_feed_the_edge_chart() -> None:
    from tests.betting.test_backtest import _ConstantModel

    result = run_backtest(hs.inputs(), ModelStrategy({"moneyline": _ConstantModel("moneyline")}))
    html = render_report(result)
    assert _figures(html)["roi-edge"]
    assert "0-2%" in html or "2-4%" in html


def test_bets_table_names_each_sides_own_line() -> None:
    """The away run-line bet of the hand season is ATL-style "Away +1.5" at the away price, not the
    home handicap; every placed bet has a row."""
    result = run_backtest(hs.inputs(), hs.PlanStrategy())
    html = render_report(result)
    table = html.split('<table id="bets"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="bet (\w+)">(.*?)</tr>', table)
    assert len(rows) == result.bets.height
    runline = result.bets.filter(market="runline").row(0, named=True)
    assert runline["line"] == -1.5  # the engine keeps the home handicap
    cells = {r[1].split('class="game">')[1].split("<")[0]: r[1] for r in rows}
    g5 = cells[runline["game_id"]]
    assert '<td class="bet">Away +1.5</td>' in g5 and f'<td class="odds">{runline["odds"]}</td>' in g5
    assert '<td class="bet">Under 8.5</td>' in cells[hs.G2] or "Under" in cells[hs.G2]


def test_tick_labels_are_distinct_and_colours_mean_one_thing() -> None:
    # A narrow range once gave "0.5" twice on the totals reliability diagram.
    ticks = charts.nice_ticks(0.4, 0.6)
    labels = [label for _, label in charts.tick_labels(ticks)]
    assert len(set(labels)) == len(labels) == len(ticks)
    only_close = charts.reliability_chart(
        "r", {"model": [(0.45, 0.5, 40)], "closing line": [(0.45, 0.48, 40)]}
    )
    both = charts.reliability_chart(
        "r",
        {"model": [(0.45, 0.5, 40)], "opening line": [(0.45, 0.47, 40)], "closing line": [(0.45, 0.48, 40)]},
    )
    close = charts.SERIES_COLOURS["closing line"]
    assert close != charts.SERIES_COLOURS["opening line"]
    assert f'fill="{close}"' in only_close and f'fill="{close}"' in both
    assert f'fill="{charts.SERIES_COLOURS["opening line"]}"' not in only_close
    labels_on_axis = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', both)
    assert len(labels_on_axis) == len(set(labels_on_axis)) * 2  # x and y axes, each distinct


def test_month_chart_is_roi_to_date() -> None:
    """Each month's bar is the ROI of every bet so far, so it ends at the season's ROI."""
    result = run_backtest(hs.inputs(), hs.PlanStrategy())
    action = result.bets.filter(pl.col("result") != "void")
    svg = render_report(result).split('id="roi-month"', 1)[1].split("</figure>", 1)[0]
    season_roi = action["profit"].sum() / action["stake"].sum()
    titles = re.findall(r"<title>([^<]+): ([-\d.]+)%, (\d+) bets</title>", svg)
    assert titles and float(titles[-1][1]) == pytest.approx(season_roi * 100, abs=0.5)
    assert sum(int(t[2]) for t in titles) == action.height
