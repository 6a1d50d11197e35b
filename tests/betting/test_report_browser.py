"""The report in a real browser: headless Chromium opens it offline, logs no error, and draws every plot.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``)
and the ``selenium`` package (a dev dependency). Without them this test FAILS: a report nobody has
seen render is not a tested report.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlbedge.betting.backtest import gain_shares
from mlbedge.betting.report import render_report, write_report
from tests.betting.conftest import CliRun, Run2016, Season2016
from tests.browser import headless_chromium

# Every chart's drawing, measured by the browser itself: the svg's box, and each mark's box.
MEASURE = """
return Array.from(document.querySelectorAll('figure.chart')).map(function (figure) {
  var svg = figure.querySelector('svg.plot');
  if (!svg) { return {id: figure.id, empty: figure.classList.contains('empty'), svg: null, marks: []}; }
  var box = svg.getBoundingClientRect();
  var marks = Array.from(svg.querySelectorAll('.mark')).map(function (m) {
    var b = m.getBoundingClientRect();
    return [b.left, b.top, b.right, b.bottom];
  });
  return {id: figure.id, empty: false, svg: [box.left, box.top, box.right, box.bottom], marks: marks};
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver (fails, never skips, when either is missing)."""
    with headless_chromium(console_log=True) as driver:
        yield driver


def _open(browser: Any, path: Path) -> list[dict]:
    """Load the file, check the console, return the measured charts."""
    browser.get(path.resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    # Nothing but the file itself was loaded: no script, stylesheet, font or image from anywhere.
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (r) { return r.name; })"
    )
    assert resources == []
    return browser.execute_script(MEASURE)


def _drawn(chart: dict) -> bool:
    """The chart has a visible svg and at least one visible mark, each inside the svg's box."""
    if chart["svg"] is None:
        return False
    left, top, right, bottom = chart["svg"]
    assert right - left > 300 and bottom - top > 150, chart["id"]
    assert chart["marks"], f"{chart['id']} has no marks"
    for m_left, m_top, m_right, m_bottom in chart["marks"]:
        assert (m_right - m_left) + (m_bottom - m_top) > 0, chart["id"]
        assert left - 1 <= m_left and m_right <= right + 1 and top - 1 <= m_top and m_bottom <= bottom + 1, (
            chart["id"]
        )
    return True


def test_backtest_report_renders_every_plot(
    browser: Any, season_2016: Season2016, run_2016: Run2016, tmp_path: Path
) -> None:
    """A real backtest with bets (2016 window): bankroll, three reliability diagrams, CLV, ROI by
    edge and by month, three importance charts: all drawn, inside their boxes, no console error."""
    html = render_report(
        run_2016.result, predictions=season_2016.predictions, importance=gain_shares(season_2016.models, 15)
    )
    charts = _open(browser, write_report(html, tmp_path / "report.html"))
    drawn = {c["id"] for c in charts if _drawn(c)}
    markets = ("moneyline", "total", "runline")
    assert drawn == {"bankroll", "clv", "roi-edge", "roi-month"} | {
        f"{kind}-{m}" for kind in ("reliability", "importance") for m in markets
    }


def test_cli_report_renders(browser: Any, cli_backtest: CliRun, tmp_path: Path) -> None:
    """The report `mlbedge backtest --report r.html` wrote, opened from a copy in another folder
    (self-contained): the model plots are drawn and every empty chart says why."""
    copy = tmp_path / "elsewhere" / "r.html"
    copy.parent.mkdir()
    shutil.copy(cli_backtest.report_path, copy)
    charts = _open(browser, copy)
    drawn = {c["id"] for c in charts if _drawn(c)}
    for market in ("moneyline", "total", "runline"):
        assert {f"reliability-{market}", f"importance-{market}"} <= drawn
    for chart in charts:
        assert chart["id"] in drawn or chart["empty"]
    note = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.empty .empty-note')).map(function (n) {"
        " return n.getBoundingClientRect().height; })"
    )
    assert all(height > 10 for height in note)
