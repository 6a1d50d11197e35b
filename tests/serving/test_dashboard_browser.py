"""The slate dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) against the real app on the session's services.

The page is loaded for one date, the date is changed through the page's own form, and every
number shown (games, the model's and the market's probabilities, edges, stakes, the backtest's
final bankroll and curve) is checked against the JSON API's answers for the same date.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.browser import headless_chromium
from tests.serving.conftest import SLATE_DAY, ServedApp

FIRST_DAY = date(2016, 8, 1)
CURVE = [
    ["2016-04-03T16:00:00+00:00", 1000.0],
    ["2016-04-04T23:00:00+00:00", 1012.5],
    ["2016-04-05T23:00:00+00:00", 990.25],
    ["2016-04-06T23:00:00+00:00", 1041.0],
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver (fails, never skips, when either is missing)."""
    with headless_chromium("1400,1000") as driver:
        yield driver


def _cells(browser: Any) -> dict[tuple[str, str], dict[str, str]]:
    """The games table as {(game, market): {field: text}}."""
    rows = browser.execute_script(
        """
        return Array.from(document.querySelectorAll('#games tr[data-market]')).map(function (tr) {
          var out = {game: tr.dataset.game, market: tr.dataset.market};
          tr.querySelectorAll('td[data-field]').forEach(function (td) { out[td.dataset.field] = td.textContent.trim(); });
          return out;
        });
        """
    )
    return {(r["game"], r["market"]): r for r in rows}


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _edge(value: float | None) -> str:
    return "" if value is None else f"{value:+.4f}"


def test_the_dashboard_shows_what_the_api_answers_and_follows_the_date(api: ServedApp, browser: Any) -> None:
    """Load one date, switch to the next with the form, and compare every number with the API."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    reports = api.settings.home / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "latest_backtest.json").write_text(
        json.dumps(
            {
                "test_season": 2016,
                "train_seasons": [2010, 2015],
                "initial_bankroll": 1000.0,
                "final_bankroll": 1041.0,
                "roi": 0.021,
                "n_bets": 3,
                "max_drawdown": 0.022,
                "curve": CURVE,
            }
        )
    )

    browser.get(f"{api.url}/?date={FIRST_DAY}")
    assert browser.find_element(By.ID, "date").get_attribute("value") == FIRST_DAY.isoformat()
    with api.client() as client:
        first_games = client.get("/v1/games", params={"date": FIRST_DAY.isoformat()}).json()["games"]
    assert int(browser.find_element(By.ID, "n-games").text) == len(first_games) > 0

    # Change the date through the page's own form, as a user would.
    browser.execute_script(f"document.getElementById('date').value = '{SLATE_DAY}';")
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, 30).until(ec.url_contains(f"date={SLATE_DAY}"))
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.ID, "date").get_attribute("value") == SLATE_DAY.isoformat()
    )

    with api.client() as client:
        games = client.get("/v1/games", params={"date": SLATE_DAY.isoformat()}).json()["games"]
        predictions = {g["game_id"]: client.get(f"/v1/predictions/{g['game_id']}").json() for g in games}
        recs = client.get(
            "/v1/recommendations", params={"date": SLATE_DAY.isoformat(), "bankroll": 1000}
        ).json()
    assert int(browser.find_element(By.ID, "n-games").text) == len(games) == 15

    cells = _cells(browser)
    expected = {}
    for game_id, body in predictions.items():
        for market in body["markets"]:
            side = market["sides"][0]
            stake = " ".join(
                f"{b['stake']:,.2f} {b['side']}"
                for b in recs["bets"]
                if b["game_id"] == game_id and b["market"] == market["market"]
            )
            expected[(game_id, market["market"])] = {
                "game": game_id,
                "market": market["market"],
                "line": "" if market["line"] is None else f"{market['line']:g}",  # as offered
                "model": _fmt(side["probability"]),
                "market-p": _fmt(side["market_probability"]),
                "edge": _edge(side["edge"]),
                "stake": stake,
            }
    assert len(expected) == 45  # three markets of fifteen games
    assert cells == expected

    # The bets table and the totals are the recommendations' own.
    bet_rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#bets tr[data-side]')).map(function (tr) {"
        " return [tr.dataset.game, tr.dataset.market, tr.dataset.side,"
        " tr.querySelector('td[data-field=stake]').textContent.trim()]; });"
    )
    assert sorted(map(tuple, bet_rows)) == sorted(
        (b["game_id"], b["market"], b["side"], f"{b['stake']:,.2f}") for b in recs["bets"]
    )
    assert len(recs["bets"]) > 0
    assert browser.find_element(By.ID, "n-bets").text == str(len(recs["bets"]))
    assert browser.find_element(By.ID, "total-stake").text == f"{recs['total_stake']:,.2f}"

    # The latest backtest: its final bankroll and one curve point per recorded result.
    assert browser.find_element(By.ID, "backtest-final").text == "1,041.00"
    points = browser.find_element(By.CSS_SELECTOR, "#backtest-curve polyline").get_attribute("points")
    assert len(points.split()) == len(CURVE)
    box = browser.find_element(By.ID, "backtest-curve").rect
    assert box["width"] > 500 and box["height"] > 100  # drawn, not collapsed
    assert browser.find_elements(By.ID, "alerts-none") or browser.find_elements(By.ID, "alerts")


def test_the_dashboard_of_a_day_without_games_says_so(api: ServedApp, browser: Any) -> None:
    """A winter date: no games, no bets, and the page still renders its form."""
    from selenium.webdriver.common.by import By

    browser.get(f"{api.url}/?date=2016-12-25")
    assert browser.find_element(By.ID, "n-games").text == "0"
    assert "No games on 2016-12-25" in browser.find_element(By.ID, "no-games").text
    assert browser.find_element(By.ID, "backtest-none").text.startswith("No backtest recorded")
