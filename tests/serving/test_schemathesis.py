"""Fuzzing the API against its own OpenAPI schema (schemathesis): no server error, no answer that
breaks the schema, schema-valid input accepted and invalid input rejected.

The app runs in process (ASGI, no socket) on the real PostgreSQL, Redis and registered models.
Every operation of the schema is fuzzed with valid data (its documented examples first, so real
games are predicted, then generated cases) and, where it takes input, with invalid data; every
case runs schemathesis' default checks. Examples are bounded so the whole file takes well under a
minute. (The cases are driven through Hypothesis directly: schemathesis' pytest plugin does not
run under pytest 9.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlbedge.serving.app import create_app
from mlbedge.serving.dependencies import ServingState
from mlbedge.settings import Settings
from tests.serving.conftest import Online, Registered, ServingDb, app_settings

POSITIVE_EXAMPLES = 30
NEGATIVE_EXAMPLES = 20
LEDGER_KEY = "fuzz-ledger-key"


def _operations() -> list[tuple[str, str, bool]]:
    """``(method, path, takes input)`` of every operation in the app's schema."""
    paths = create_app(Settings()).openapi()["paths"]
    return [
        (method.upper(), path, bool(spec.get("parameters") or spec.get("requestBody")))
        for path, item in paths.items()
        for method, spec in item.items()
    ]


OPERATIONS = _operations()
CASES = [(m, p, "positive") for m, p, _ in OPERATIONS] + [
    (m, p, "negative") for m, p, takes in OPERATIONS if takes
]


@pytest.fixture(scope="module")
def api_schema(
    serving_db: ServingDb, online: Online, registered: Registered, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    """The app's schema, bound to the app."""
    config = app_settings(
        serving_db, online, registered, tmp_path_factory.mktemp("fuzz_home"), bets_api_key=LEDGER_KEY
    )
    state = ServingState.start(config)
    app = create_app(config, state=state)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        state.close()


def test_every_operation_is_fuzzed() -> None:
    """The fuzzing covers the whole API (a new route is fuzzed without editing this file)."""
    paths = {p for _, p, _ in OPERATIONS}
    assert {"/health", "/ready", "/metrics", "/v1/games", "/v1/predictions/{game_id}", "/v1/predictions",
            "/v1/recommendations", "/v1/models", "/v1/admin/reload"} <= paths  # fmt: skip


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g}" for m, p, g in CASES])
def test_operation_keeps_its_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str, mode: str
) -> None:
    operation = api_schema[path][method]
    generation = schemathesis.GenerationMode(mode)
    strategy = operation.as_strategy(generation_mode=generation)
    if generation.is_positive:
        examples = api_schema.get_strategies_from_examples(operation)
        strategy = st.one_of(*examples, strategy) if examples else strategy
    calls: list[int] = []

    @given(case=strategy)
    @settings(
        max_examples=POSITIVE_EXAMPLES if generation.is_positive else NEGATIVE_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        # Valid cases carry the ledger's key (the fuzzer has no admin token), so the ledger's input
        # reaches the database; invalid ones are left as generated (a missing key must be refused).
        response = case.call_and_validate(
            headers={"X-API-Key": LEDGER_KEY} if generation.is_positive else None
        )
        calls.append(response.status_code)

    run()
    assert calls, f"{method} {path}: no case was generated"
    assert all(code < 500 for code in calls), calls
    if generation.is_positive and path != "/v1/admin/reload":  # the fuzzer has no admin token
        # Valid input was served, not only refused: the documented examples are real games. A bet
        # made up by the fuzzer is on no real game: it is refused with its reason (409).
        assert (409 if (method, path) == ("POST", "/v1/bets") else 200) in calls, (
            f"{method} {path}: no valid case answered 200 ({sorted(set(calls))})"
        )
    # Invalid input is judged by schemathesis' negative_data_rejection check, which knows when a
    # "negative" case happens to be valid after serialization (a query value is text).
