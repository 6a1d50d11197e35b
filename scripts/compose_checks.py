"""HTTP checks of `make compose-test` (scripts/compose_test.sh) against the API of the compose stack.

Standard library only: it runs with the host's ``python3``, outside any virtualenv. Each check polls
until it holds or its deadline passes, then exits 0, or 1 with the last reason it did not hold.

    compose_checks.py --api URL health --within 120
    compose_checks.py --api URL reload --token TOKEN
    compose_checks.py --api URL predict --date 2016-08-02 --source online_store --within 60
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

REQUEST_TIMEOUT = 10.0  # seconds; no single request may hang a check


class CheckFailed(Exception):
    """The check does not hold (yet)."""


def request(url: str, *, method: str = "GET", token: str | None = None) -> tuple[int, Any, float]:
    """Status, decoded JSON body (or text) and seconds of one request."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, method=method, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise CheckFailed(f"{method} {url}: {exc}") from exc
    seconds = time.perf_counter() - started
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode(errors="replace")
    return status, body, seconds


def poll(name: str, within: float, check: Callable[[], str]) -> None:
    """Run ``check`` until it returns (its summary is printed) or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    attempt = 0
    while True:
        attempt += 1
        try:
            print(f"{name}: {check()}")
            return
        except CheckFailed as exc:
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"{name}: did not hold within {within:.0f} s ({attempt} attempts): {exc}"
                ) from None
            print(f"{name}: not yet ({exc})", file=sys.stderr)
            time.sleep(2.0)


def check_health(api: str) -> str:
    status, body, _ = request(f"{api}/health")
    if status != 200:
        raise CheckFailed(f"/health answered {status}: {body}")
    return f"API up, version {body.get('version')}"


def check_reload(api: str, token: str) -> str:
    status, body, _ = request(f"{api}/v1/admin/reload", method="POST", token=token)
    if status != 200:
        raise CheckFailed(f"/v1/admin/reload answered {status}: {body}")
    loaded = [c for c in body["changes"] if c["after"] is not None]
    if not loaded:
        raise CheckFailed(f"no champion loaded: {body}")
    status, body, _ = request(f"{api}/ready")
    if status != 200:
        raise CheckFailed(f"/ready answered {status}: {body}")
    return "champions " + ", ".join(f"{c['target']} v{c['after']}" for c in loaded)


def check_predictions(api: str, day: str, source: str) -> str:
    """Every game of ``day`` answers 200 with its features read from ``source``; /ready agrees."""
    degraded = source == "postgres"
    status, body, _ = request(f"{api}/v1/games?date={day}")
    if status != 200:
        raise CheckFailed(f"/v1/games answered {status}: {body}")
    game_ids = [g["game_id"] for g in body["games"]]
    if not game_ids:
        raise CheckFailed(f"no games on {day}")
    slowest = 0.0
    for game_id in game_ids:
        status, body, seconds = request(f"{api}/v1/predictions/{game_id}")
        slowest = max(slowest, seconds)
        if status != 200:
            raise CheckFailed(f"/v1/predictions/{game_id} answered {status}: {body}")
        if body["features_source"] != source or body["degraded"] is not degraded:
            raise CheckFailed(
                f"{game_id}: features_source {body['features_source']!r}, degraded {body['degraded']}; "
                f"expected {source!r}, degraded {degraded}"
            )
        if not body["markets"]:
            raise CheckFailed(f"{game_id}: no market predicted: {body['unavailable']}")
    status, ready, _ = request(f"{api}/ready")
    if status != 200:
        raise CheckFailed(f"/ready answered {status}: {ready}")
    if ready["degraded"] is not degraded or (degraded and "redis" not in ready["missing"]):
        raise CheckFailed(f"/ready says degraded {ready['degraded']}, missing {ready['missing']}")
    status, recs, _ = request(f"{api}/v1/recommendations?date={day}&bankroll=1000")
    if status != 200:
        raise CheckFailed(f"/v1/recommendations answered {status}: {recs}")
    return (
        f"{len(game_ids)} games of {day} answered 200 from {source} (slowest {slowest * 1000:.0f} ms); "
        f"/ready 200, degraded {ready['degraded']}, missing {ready['missing']}"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run one check."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api", required=True, help="Base URL of the API, e.g. http://127.0.0.1:8000")
    sub = parser.add_subparsers(dest="check", required=True)
    health = sub.add_parser("health", help="GET /health answers 200")
    health.add_argument("--within", type=float, default=120.0)
    reload = sub.add_parser("reload", help="POST /v1/admin/reload loads champions; /ready 200")
    reload.add_argument("--token", required=True)
    reload.add_argument("--within", type=float, default=60.0)
    predict = sub.add_parser("predict", help="every game of a date answers 200 from a source")
    predict.add_argument("--date", required=True)
    predict.add_argument("--source", required=True, choices=["online_store", "postgres"])
    predict.add_argument("--within", type=float, default=60.0)
    args = parser.parse_args(argv)

    if args.check == "health":
        poll("health", args.within, lambda: check_health(args.api))
    elif args.check == "reload":
        poll("reload", args.within, lambda: check_reload(args.api, args.token))
    else:
        poll(
            f"predict ({args.source})",
            args.within,
            lambda: check_predictions(args.api, args.date, args.source),
        )


if __name__ == "__main__":
    main()
