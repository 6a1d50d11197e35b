"""Property-based fuzzing of every parser: whatever the input, a parser returns a payload (with
what it could not use quarantined) or raises its own parse error class, never anything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlbedge.sources import action_network, mlb_stats, sbd, vsin
from mlbedge.sources.snapshots import TABLES, ParsedPayload
from tests.conftest import FIXTURES
from tests.sources.conftest import LOCAL_FIXTURES, make_meta
from tests.sources.fixtures import action_network_payloads as an

AT = datetime(2025, 6, 13, 20, 0, tzinfo=UTC)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["+104", "-110", "EV", "8.5", "", "2025-06-13T18:20:00.000Z", "sr:book:18149", "MLB_CHC"]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)

PARSERS: dict[str, tuple[Any, type[Exception], str, str]] = {
    "schedule": (mlb_stats.parse_schedule, mlb_stats.MlbStatsParseError, "mlb_stats", "schedule"),
    "feed_live": (mlb_stats.parse_feed_live, mlb_stats.MlbStatsParseError, "mlb_stats", "feed_live"),
    "standings": (mlb_stats.parse_standings, mlb_stats.MlbStatsParseError, "mlb_stats", "standings"),
    "teams": (mlb_stats.parse_teams, mlb_stats.MlbStatsParseError, "mlb_stats", "teams"),
    "scoreboard": (
        action_network.parse_scoreboard,
        action_network.ActionNetworkParseError,
        "action_network",
        "scoreboard",
    ),
    "history": (
        action_network.parse_history,
        action_network.ActionNetworkParseError,
        "action_network",
        "history",
    ),
    "mlb_odds": (sbd.parse_mlb_odds, sbd.SbdParseError, "sbd", "mlb_odds"),
    "betting_splits": (sbd.parse_betting_splits, sbd.SbdParseError, "sbd", "betting_splits"),
    "splits": (vsin.parse_splits, vsin.VsinParseError, "vsin", "splits"),
}


def _real(name: str) -> Any:
    """A real (or, for AN, documented-shape) payload of each kind, the seed of the mutations."""
    if name == "scoreboard":
        slate = an.csv_slate(FIXTURES)[:3]
        return an.scoreboard(slate, an.read_teams(FIXTURES))
    if name == "history":
        return an.history(an.csv_slate(FIXTURES)[0])
    files = {
        "schedule": "mlb_statsapi/schedule_2022-04-07_opening_day.json",
        "feed_live": "mlb_statsapi/feed_live_744914_2024-07-01.json",
        "standings": "mlb_statsapi/standings_2024_regularSeason.json",
        "teams": "mlb_statsapi/teams_sportId1.json",
        "mlb_odds": "sbd/wp-json_adpt_v1_mlb-odds_2026-09-27T14-06-46Z_trimmed_1game.json",
        "betting_splits": "sbd/srfeeds_v2_matchups_mlb_betting-splits_2025-06-13.json",
    }
    return json.loads((FIXTURES / files[name]).read_text())


def _paths(node: Any, prefix: tuple = (), out: list | None = None, limit: int = 4000) -> list[tuple]:
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    out.append(prefix)
    if isinstance(node, dict):
        for key, value in node.items():
            _paths(value, (*prefix, key), out, limit)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _paths(value, (*prefix, i), out, limit)
    return out


def _replace(node: Any, path: tuple, value: Any) -> Any:
    """``node`` with the value at ``path`` replaced, copying only along the path."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    copy = list(node)
    copy[head] = _replace(node[head], rest, value)
    return copy


def _check(name: str, body: bytes) -> None:
    parser, own_error, source, endpoint = PARSERS[name]
    meta = make_meta(source, endpoint, AT, {"date": "20250613", "source": "DK"}, {"event_id": 257324})
    try:
        parsed = parser(body, meta)
    except own_error:
        return
    assert isinstance(parsed, ParsedPayload)
    for table, frame in parsed.frames.items():
        schema, _ = TABLES[table]
        assert dict(frame.schema) == schema, table


@pytest.mark.parametrize("name", list(PARSERS))
@FUZZ
@given(body=st.binary(max_size=400))
def test_arbitrary_bytes(name: str, body: bytes) -> None:
    _check(name, body)


@pytest.mark.parametrize("name", [n for n in PARSERS if n != "splits"])
@FUZZ
@given(value=JSON)
def test_arbitrary_json(name: str, value: Any) -> None:
    _check(name, json.dumps(value).encode())


SEEDS = {name: _real(name) for name in PARSERS if name != "splits"}
SEED_PATHS = {name: _paths(seed) for name, seed in SEEDS.items()}


@pytest.mark.parametrize("name", list(SEEDS))
@FUZZ
@given(data=st.data())
def test_mutated_real_payloads(name: str, data: st.DataObject) -> None:
    seed, paths = SEEDS[name], SEED_PATHS[name]
    mutated = seed
    for _ in range(data.draw(st.integers(1, 3))):
        path = paths[data.draw(st.integers(0, len(paths) - 1))]
        try:
            mutated = _replace(mutated, path, data.draw(JSON))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    _check(name, json.dumps(mutated).encode())


HTML = [
    (LOCAL_FIXTURES / f).read_text() for f in ("vsin_current_sp_table.html", "vsin_legacy_freezetable.html")
]


@FUZZ
@given(
    page=st.sampled_from(HTML),
    cut=st.integers(0, 9000),
    length=st.integers(0, 400),
    insert=st.text(alphabet=st.sampled_from(list("<>/=\"' tdrahbspn%-+.0123456789")), max_size=60),
)
def test_mutated_vsin_pages(page: str, cut: int, length: int, insert: str) -> None:
    _check("splits", (page[:cut] + insert + page[cut + length :]).encode())


@FUZZ
@given(
    cells=st.lists(
        st.sampled_from(
            ["", "55%", "-1.5", "+1.5 -130", "o8.5", "EV", "abc", "101%", "+99999999", "<b>7</b>%"]
        ),
        min_size=9,
        max_size=9,
    ),
    code=st.sampled_from(["20240813MLB00001", "20241313MLB00001", "MLB", "20240813MLB"]),
)
def test_vsin_cells_with_arbitrary_text(cells: list[str], code: str) -> None:
    row = "".join(f"<td>{c}</td>" for c in cells)
    team = '<td><a class="sp-team-link" href="/mlb/teams/{0}">{0}</a></td>'
    page = (
        '<table class="sp-table"><thead><tr><th class="sp-sport-name">MLB - Today</th></tr></thead><tbody>'
        f'<tr class="sp-row"><td><button data-gamecode="{code}"></button></td>{team.format("chicago-cubs")}{row}</tr>'
        f'<tr class="sp-row"><td></td>{team.format("athletics")}{row}</tr></tbody></table>'
    )
    _check("splits", page.encode())
