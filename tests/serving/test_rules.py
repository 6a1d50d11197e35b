"""The serving rules that need no server: lines, market prices, edges, strict dates, rate-limit keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from mlbedge.serving.models import ModelSet, NoChampionError
from mlbedge.serving.params import IsoDate
from mlbedge.serving.predict import edge, market_line, market_probability
from mlbedge.serving.ratelimit import Decision, client_key, key_digest

NAMES = ("ml_home_prob", "total_line", "total_over_prob", "rl_home_line", "rl_home_cover_prob")


def test_the_run_line_follows_the_favourite_as_the_labels_do() -> None:
    matrix = np.array(
        [
            [0.60, 8.5, 0.52, -1.5, 0.41],  # home favoured: home -1.5, priced at that line
            [0.40, 9.0, 0.48, -1.5, 0.30],  # home underdog: +1.5, but the book priced -1.5
            [0.50, 7.5, 0.50, 1.5, 0.66],  # a pick'em is not "favoured": +1.5
            [np.nan, np.nan, np.nan, np.nan, np.nan],  # no price at all
        ]
    )
    line = market_line("runline", matrix, NAMES)
    assert line[:3].tolist() == [-1.5, 1.5, 1.5] and np.isnan(line[3])
    prob = market_probability("runline", matrix, NAMES, line)
    assert prob[0] == 0.41 and np.isnan(prob[1]) and prob[2] == 0.66 and np.isnan(prob[3])
    assert market_line("total", matrix, NAMES)[:3].tolist() == [8.5, 9.0, 7.5]
    assert np.isnan(market_line("moneyline", matrix, NAMES)).all()
    assert market_probability("moneyline", matrix, NAMES, line)[:3].tolist() == [0.60, 0.40, 0.50]


def test_edge_is_expected_profit_at_the_fair_price_and_unknown_without_one() -> None:
    got = edge(np.array([0.55, 0.50, 0.50, 0.50]), np.array([0.50, 0.0, 1.0, np.nan]))
    assert got[0] == pytest.approx(0.10)
    assert np.isnan(got[1:]).all()


@pytest.mark.parametrize(
    "text", ["2016-02-30", "2016-8-2", "20160802", "1470096000", "2016-08-02T00:00:00", ""]
)
def test_dates_are_strict_iso(text: str) -> None:
    adapter = TypeAdapter(IsoDate)
    assert adapter.validate_python("2016-08-02") == date(2016, 8, 2)
    with pytest.raises(ValidationError):
        adapter.validate_python(text)
    with pytest.raises(ValidationError):
        adapter.validate_python(1470096000)


def test_rate_limit_keys_never_hold_an_api_key_in_clear() -> None:
    known = frozenset({key_digest("secret-key-123")})
    key = client_key("secret-key-123", "10.0.0.1", known)
    assert "secret-key-123" not in key and key.startswith("key:")
    assert client_key("secret-key-123", "10.0.0.2", known) == key  # the key, not the address, is the client
    assert client_key(None, "10.0.0.1", known) == "ip:10.0.0.1"
    # A key nobody configured is no identity: the address is the client.
    assert client_key("made-up-key", "10.0.0.1", known) == "ip:10.0.0.1"
    assert client_key("secret-key-123", "10.0.0.1") == "ip:10.0.0.1"
    assert Decision(False, 11, 10, 0.2).retry_after == 1  # never "retry in 0 s"
    assert Decision(False, 11, 10, 41.2).retry_after == 42


def test_an_empty_model_set_refuses_with_every_reason() -> None:
    empty = ModelSet({}, {"moneyline": "no champion here", "total": "registry down"}, datetime.now(UTC), 1)
    with pytest.raises(NoChampionError, match="moneyline: no champion here; total: registry down"):
        empty.require()


def test_a_predicted_total_is_at_a_half_run_line_books_offer() -> None:
    """The consensus total is a mean over books (8.4, 8.7): the prediction is for the nearest half run."""
    matrix = np.array([[0.5, v, 0.5, -1.5, 0.4] for v in (8.4, 8.7, 8.25, 8.75, 9.0, np.nan)])
    line = market_line("total", matrix, NAMES)
    assert line[:5].tolist() == [8.5, 8.5, 8.0, 9.0, 9.0] and np.isnan(line[5])
