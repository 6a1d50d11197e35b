"""The slate cards in a real browser (headless Chromium against the real app on the session's
services): one card per game with the first pitch in the home park's zone, the starters and their
hands, the best price of each side with its book, the recommended bets in words with their stakes
(as the API answers them) and each market's skill gate; readable at a phone's width."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from mlbedge.domain.teams import TEAMS
from tests.browser import headless_chromium
from tests.serving.conftest import SLATE_DAY, ServedApp, ServingDb

DAY = SLATE_DAY.isoformat()
BANKROLL = 10_000


@pytest.fixture(scope="module")
def slate_app(
    serving_db: ServingDb, online: Any, registered: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    from tests.serving.conftest import app_settings

    app = ServedApp(
        app_settings(serving_db, online, registered, tmp_path_factory.mktemp("cards_home"))
    ).start()
    yield app
    app.stop()


def _cards(browser: Any) -> list[dict[str, Any]]:
    return browser.execute_script(
        """
        return Array.from(document.querySelectorAll('#cards .card')).map(function (card) {
          return {
            game: card.dataset.game,
            start: card.querySelector('[data-field=local-start]').textContent.trim(),
            pitchers: card.querySelector('[data-field=pitchers]').textContent.trim(),
            markets: Array.from(card.querySelectorAll('.market')).map(function (m) { return m.dataset.market; }),
            prices: card.querySelectorAll('.price').length,
            gates: Array.from(card.querySelectorAll('.gate')).map(function (g) { return g.dataset.market; }),
            picks: Array.from(card.querySelectorAll('li.pick')).map(function (li) { return li.textContent.trim(); }),
          };
        });
        """
    )


def test_slate_cards_show_what_a_bettor_needs_at_desktop_and_phone_width(
    slate_app: ServedApp, serving_db: ServingDb, tmp_path: Path
) -> None:
    with slate_app.client() as c:
        recs = c.get("/v1/recommendations", params={"date": DAY, "bankroll": BANKROLL}).json()
    zones = {t.mlb_id: t.timezone for t in TEAMS}
    with psycopg.connect(serving_db.url) as conn:
        games = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT game_id, start_time_utc, home_team_id, home_starter_hand, away_starter_hand "
                "FROM curated.games WHERE date = %s",
                (SLATE_DAY,),
            ).fetchall()
        }
    with headless_chromium("1280,1000") as browser:
        browser.get(f"{slate_app.url}/?date={DAY}&bankroll={BANKROLL}")
        cards = _cards(browser)
        reasons = browser.execute_script(
            "return Array.from(document.querySelectorAll('#gates li')).map("
            "function (li) { return [li.dataset.market, li.textContent.trim()]; });"
        )
        marks = browser.execute_script(
            "return Array.from(document.querySelectorAll('#cards .gate')).map("
            "function (g) { return g.textContent.trim(); });"
        )
        browser.save_screenshot(str(tmp_path / "slate_desktop.png"))
    # Each market's gate in full once; on the cards its record in a few words. The session's app
    # runs with the gate switched off, and the cards say so rather than "no bets".
    assert dict(reasons) == {m: g["reason"] for m, g in recs["gates"].items()}
    assert recs["gates_applied"] is False and marks and all(m.startswith("gate off: ") for m in marks)
    assert len(cards) == len(games) == 15
    starts = [games[c["game"]][0] for c in cards]
    assert starts == sorted(starts)  # in order of first pitch
    for card in cards:
        start, home_id, home_hand, away_hand = games[card["game"]]
        local: datetime = start.astimezone(ZoneInfo(zones[home_id]))
        assert card["start"] == local.strftime("%-I:%M %p %Z"), card  # the home park's own clock
        assert f"({away_hand})" in card["pitchers"] and f"({home_hand})" in card["pitchers"], card
        assert card["prices"] >= 2 * len(card["markets"]) and card["markets"], card
        assert set(card["gates"]) == set(recs["gates"]) & set(card["markets"]), card
        expected = [
            f"Bet {b['bet']} at {b['book']}: stake {b['stake']:,.2f} (edge {b['edge'] * 100:+.1f}%)"
            for b in recs["bets"]
            if b["game_id"] == card["game"]
        ]
        assert sorted(card["picks"]) == sorted(expected), card
    assert sum(len(c["picks"]) for c in cards) == len(recs["bets"]) > 0

    # A phone: the page reflows (one column of cards) and never scrolls sideways.
    with headless_chromium("390,844") as browser:
        browser.get(f"{slate_app.url}/?date={DAY}&bankroll={BANKROLL}")
        widths = browser.execute_script(
            "var c = document.querySelector('#cards .card').getBoundingClientRect();"
            "return [document.documentElement.scrollWidth, window.innerWidth, c.width];"
        )
        browser.save_screenshot(str(tmp_path / "slate_phone.png"))
    page_width, viewport, card_width = widths
    assert page_width <= viewport and card_width <= viewport
    assert (tmp_path / "slate_phone.png").stat().st_size > 10_000
