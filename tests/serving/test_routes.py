"""Every route of the real app (uvicorn on loopback) against the real PostgreSQL, Redis and registry.

The app serves the session's 2016 features from Redis and version 1 of each market from the MLflow
server. Answers are checked against independent computations from PostgreSQL: the same models
loaded straight from the registry, predicting on the stored feature rows.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import pytest

from mlbedge.features.io import read_features
from mlbedge.features.registry import registry as feature_registry
from mlbedge.training import registry
from mlbedge.training.targets import TARGET_LINE
from tests.serving.conftest import (
    MARKETS,
    SLATE_DAY,
    Online,
    Registered,
    ServedApp,
    ServingDb,
    admin_headers,
    app_settings,
)

DAY = SLATE_DAY.isoformat()


@pytest.fixture(scope="module")
def app(
    serving_db: ServingDb, online: Online, registered: Registered, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApp]:
    """One app for the read-only route tests of this module."""
    served = ServedApp(
        app_settings(serving_db, online, registered, tmp_path_factory.mktemp("routes_home"))
    ).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def slate(serving_db: ServingDb) -> pl.DataFrame:
    """The stored feature rows of the served date (from PostgreSQL, not Redis)."""
    with psycopg.connect(serving_db.url) as conn:
        ids = [r[0] for r in conn.execute("SELECT game_id FROM curated.games WHERE date = %s", (SLATE_DAY,))]
        return read_features(conn, game_ids=ids)


@pytest.fixture(scope="module")
def champions(
    registered: Registered, tmp_path_factory: pytest.TempPathFactory, serving_db: ServingDb, online: Online
):  # type: ignore[no-untyped-def]
    """Version 1 of each market loaded straight from the registry (its own download cache)."""
    settings = app_settings(serving_db, online, registered, tmp_path_factory.mktemp("independent"))
    return {
        m: registry.load_serving_model(registry.model_name(m, settings), alias="champion", settings=settings)
        for m in MARKETS
    }


def expected_probabilities(models: dict, rows: pl.DataFrame) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    """Side-A probabilities of each market for ``rows``, computed without the API's code."""
    lines = {
        "moneyline": pl.lit(None, pl.Float64),
        # The consensus total (a mean over books) at the nearest half run, a line books offer.
        "total": (pl.col("total_line") * 2.0).round(0, mode="half_to_even") / 2.0,
        "runline": pl.when(pl.col("ml_home_prob") > 0.5)
        .then(-1.5)
        .when(pl.col("ml_home_prob").is_not_null())
        .then(1.5),
    }
    out = {}
    for market, model in models.items():
        frame = rows.with_columns(lines[market].cast(pl.Float64).alias(TARGET_LINE))
        x = frame.select(pl.col(model.feature_names).cast(pl.Float64)).to_numpy()
        out[market] = np.clip(model.predict_many(x), 1e-6, 1 - 1e-6)
    return out


# ----------------------------------------------------------------------------------------------
# health


def test_health_and_ready_name_every_component(app: ServedApp) -> None:
    with app.client() as c:
        assert c.get("/health").json()["status"] == "ok"
        ready = c.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["missing"] == [] and body["degraded"] is False
    assert set(body["checks"]) == {"postgresql", "redis", "model", "online_store"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "moneyline" in body["checks"]["model"]["detail"]


# ----------------------------------------------------------------------------------------------
# games


def test_games_of_a_date_with_teams_start_and_cutoff(app: ServedApp, serving_db: ServingDb) -> None:
    with app.client() as c:
        response = c.get("/v1/games", params={"date": DAY})
    assert response.status_code == 200
    body = response.json()
    with psycopg.connect(serving_db.url) as conn:
        stored = conn.execute(
            "SELECT game_id, home_team, away_team, start_time_utc FROM curated.games WHERE date = %s ORDER BY game_id",
            (SLATE_DAY,),
        ).fetchall()
    assert body["date"] == DAY
    assert [g["game_id"] for g in body["games"]] == [r[0] for r in stored]
    assert len(stored) == 15
    for game, (_, home, away, start) in zip(body["games"], stored, strict=True):
        assert (game["home_team"], game["away_team"]) == (home, away)
        assert np.datetime64(game["start_time_utc"].rstrip("Z")) == np.datetime64(start.replace(tzinfo=None))
        # The cutoff is first pitch minus 60 minutes (every 2016 game has a Pinnacle start time).
        delta = np.datetime64(game["start_time_utc"].rstrip("Z")) - np.datetime64(game["as_of"].rstrip("Z"))
        assert delta == np.timedelta64(60, "m")


def test_a_date_without_games_is_an_empty_slate(app: ServedApp) -> None:
    with app.client() as c:
        body = c.get("/v1/games", params={"date": "2016-12-25"}).json()
    assert body == {"date": "2016-12-25", "games": []}


@pytest.mark.parametrize(
    "value", ["2016-02-30", "2016/08/02", "20160802", "1470096000", "2016-8-2", "", "tomorrow"]
)
def test_malformed_dates_are_422_naming_the_field(app: ServedApp, value: str) -> None:
    with app.client() as c:
        for path in ("/v1/games", "/v1/recommendations"):
            response = c.get(path, params={"date": value, "bankroll": 100})
            assert response.status_code == 422, (path, value, response.text)
            assert ["query", "date"] in [issue["loc"] for issue in response.json()["detail"]]
        missing = c.get("/v1/games")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "date"]


# ----------------------------------------------------------------------------------------------
# predictions


def test_prediction_is_the_champion_on_the_stored_features(
    app: ServedApp,
    slate: pl.DataFrame,
    champions: dict,
    serving_db: ServingDb,  # type: ignore[type-arg]
) -> None:
    """Probabilities from Redis rows equal the registry's models on PostgreSQL's rows; the market's
    probabilities are the stored de-vigged ones; edges are p / p_market - 1."""
    expected = expected_probabilities(champions, slate)
    names = feature_registry().names
    completeness = 1.0 - slate.select(pl.col(names).is_null().cast(pl.Float64)).to_numpy().mean(axis=1)
    with app.client() as c:
        for i, row in enumerate(slate.iter_rows(named=True)):
            response = c.get(f"/v1/predictions/{row['game_id']}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["game_id"] == row["game_id"] and body["degraded"] is False
            assert body["feature_set_version"] == serving_db.feature_set_version
            assert body["date"] == DAY
            assert math.isclose(body["feature_completeness"], completeness[i], abs_tol=1e-12)
            markets = {m["market"]: m for m in body["markets"]}
            assert set(markets) == set(MARKETS) and body["unavailable"] == {}
            for market in MARKETS:
                got = markets[market]
                assert got["model"]["version"] == "1"
                assert got["model"]["name"] == champions[market].meta["name"]
                assert got["model"]["feature_set_version"] == serving_db.feature_set_version
                side_a, side_b = got["sides"]
                assert math.isclose(side_a["probability"], expected[market][i], abs_tol=1e-12)
                assert math.isclose(side_a["probability"] + side_b["probability"], 1.0, abs_tol=1e-12)
            ml = markets["moneyline"]["sides"]
            assert ml[0]["side"] == "home" and ml[1]["side"] == "away"
            assert math.isclose(ml[0]["market_probability"], row["ml_home_prob"], abs_tol=1e-12)
            assert math.isclose(ml[0]["edge"], ml[0]["probability"] / row["ml_home_prob"] - 1, abs_tol=1e-9)
            assert math.isclose(
                ml[1]["edge"], ml[1]["probability"] / (1 - row["ml_home_prob"]) - 1, abs_tol=1e-9
            )
            total = markets["total"]
            assert total["line"] == round(row["total_line"] * 2.0) / 2.0  # Python rounds half to even too
            assert total["line"] * 2.0 == int(total["line"] * 2.0)
            assert total["sides"][0]["side"] == "over"
            assert math.isclose(
                total["sides"][0]["market_probability"], row["total_over_prob"], abs_tol=1e-12
            )
            runline = markets["runline"]
            assert runline["line"] == (-1.5 if row["ml_home_prob"] > 0.5 else 1.5)
            # The run-line market is priced only at the line the model predicts for.
            if row["rl_home_line"] == runline["line"]:
                assert math.isclose(
                    runline["sides"][0]["market_probability"], row["rl_home_cover_prob"], abs_tol=1e-12
                )
            else:
                assert (
                    runline["sides"][0]["market_probability"] is None and runline["sides"][0]["edge"] is None
                )


def test_unknown_game_is_404_naming_it(app: ServedApp) -> None:
    with app.client() as c:
        response = c.get("/v1/predictions/20160802-NYY-BOS-0")
    assert response.status_code == 404
    assert "20160802-NYY-BOS-0" in response.json()["detail"]


@pytest.mark.parametrize(
    "game_id",
    [
        "abc",
        "20160802-NYY-BOS-3",
        "20160802-nyy-BOS-0",
        "2016080-NYY-BOS-0",
        "20160802-NYYY-BOS-0",
        "1' OR '1'='1",
    ],
)
def test_malformed_game_id_is_422_naming_the_field(app: ServedApp, game_id: str) -> None:
    with app.client() as c:
        response = c.get(f"/v1/predictions/{game_id}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "game_id"]


def test_batch_is_one_prediction_per_id_in_request_order(app: ServedApp, slate: pl.DataFrame) -> None:
    ids = slate["game_id"].to_list()[:15]
    ids = [*ids, ids[0]]  # 16, one repeated
    with app.client() as c:
        singles = {g: c.get(f"/v1/predictions/{g}").json() for g in set(ids)}
        response = c.post("/v1/predictions", json={"game_ids": ids})
        assert response.status_code == 200
        body = response.json()
        assert [p["game_id"] for p in body["predictions"]] == ids
        assert body["not_found"] == [] and body["degraded"] is False
        for prediction in body["predictions"]:
            assert prediction == singles[prediction["game_id"]]
        unknown = c.post("/v1/predictions", json={"game_ids": [ids[0], "20160802-NYY-BOS-0"]}).json()
    assert [p["game_id"] for p in unknown["predictions"]] == [ids[0]]
    assert unknown["not_found"] == ["20160802-NYY-BOS-0"]


def test_batch_bad_input_is_422_naming_the_field(app: ServedApp, slate: pl.DataFrame) -> None:
    good = slate["game_id"][0]
    limit = app.settings.serve_batch_max
    cases = [
        ({"game_ids": [good] * (limit + 1)}, ["body", "game_ids"]),
        ({"game_ids": []}, ["body", "game_ids"]),
        ({"game_ids": [good, "not-an-id"]}, ["body", "game_ids", 1]),
        ({"game_ids": good}, ["body", "game_ids"]),
        ({"game_ids": [good], "extra": 1}, ["body", "extra"]),
        ({}, ["body", "game_ids"]),
    ]
    with app.client() as c:
        for payload, loc in cases:
            response = c.post("/v1/predictions", json=payload)
            assert response.status_code == 422, (payload, response.text)
            assert loc in [issue["loc"] for issue in response.json()["detail"]], response.text
        broken = c.post(
            "/v1/predictions", content=b'{"game_ids": [', headers={"content-type": "application/json"}
        )
    assert broken.status_code == 422


# ----------------------------------------------------------------------------------------------
# recommendations


def test_recommendations_are_kelly_stakes_within_the_limits_at_offered_prices(
    app: ServedApp, serving_db: ServingDb
) -> None:
    bankroll = 2_500.0
    with app.client() as c:
        response = c.get("/v1/recommendations", params={"date": DAY, "bankroll": bankroll})
        bolder = c.get(
            "/v1/recommendations", params={"date": DAY, "bankroll": bankroll, "kelly_fraction": 0.5}
        ).json()
    assert response.status_code == 200, response.text
    body = response.json()
    limits = body["limits"]
    assert limits["kelly_fraction"] == app.settings.recommend_kelly_fraction
    assert body["games"] == 15 and body["candidates"] > 0 and body["bets"]
    per_game: dict[str, float] = {}
    with psycopg.connect(serving_db.url) as conn:
        for bet in body["bets"]:
            assert bet["stake"] > 0 and bet["stake"] == int(bet["stake"])  # whole units
            assert bet["stake"] <= limits["max_stake_per_bet"] * bankroll + 1e-9
            assert bet["edge"] > 0
            decimal = 1 + (bet["odds"] / 100 if bet["odds"] > 0 else 100 / -bet["odds"])
            assert math.isclose(bet["edge"], bet["probability"] * decimal - 1, abs_tol=1e-9)
            assert bet["observed_at"] <= bet["as_of"]
            per_game[bet["game_id"]] = per_game.get(bet["game_id"], 0.0) + bet["stake"]
            # The price was really offered by that book at that time, before the cutoff.
            assert bet["book"] == "pinnacle"
            column = {
                ("moneyline", "home"): "home_ml", ("moneyline", "away"): "away_ml",
                ("total", "over"): "over_odds", ("total", "under"): "under_odds",
                ("runline", "home"): "home_rl_odds", ("runline", "away"): "away_rl_odds",
            }[(bet["market"], bet["side"])]  # fmt: skip
            offered = conn.execute(
                f"SELECT l.{column} FROM staging.pinnacle_lines l JOIN curated.games g USING (pin_game_no) "
                "WHERE g.game_id = %s AND l.observed_at = %s",
                (bet["game_id"], bet["observed_at"]),
            ).fetchone()
            assert offered is not None and offered[0] == bet["odds"], bet
    assert all(total <= limits["max_stake_per_game"] * bankroll + 1e-9 for total in per_game.values())
    assert body["total_stake"] == sum(b["stake"] for b in body["bets"])
    assert body["total_stake"] <= limits["max_exposure"] * bankroll + 1e-9
    assert math.isclose(body["exposure"], body["total_stake"] / bankroll)
    # Half Kelly stakes more than quarter Kelly (the caps only ever bind more often).
    assert bolder["limits"]["kelly_fraction"] == 0.5
    assert bolder["total_stake"] > body["total_stake"]


def test_recommendations_of_a_date_without_games(app: ServedApp) -> None:
    with app.client() as c:
        body = c.get("/v1/recommendations", params={"date": "2016-12-25", "bankroll": 100}).json()
    assert body["games"] == 0 and body["bets"] == [] and body["total_stake"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bankroll": 0}, "bankroll"),
        ({"bankroll": -50}, "bankroll"),
        ({"bankroll": "abc"}, "bankroll"),
        ({"bankroll": "inf"}, "bankroll"),
        ({"bankroll": "nan"}, "bankroll"),
        ({"bankroll": 1e13}, "bankroll"),
        ({}, "bankroll"),
        ({"bankroll": 100, "kelly_fraction": 0}, "kelly_fraction"),
        ({"bankroll": 100, "kelly_fraction": 1.5}, "kelly_fraction"),
        ({"bankroll": 100, "kelly_fraction": "half"}, "kelly_fraction"),
    ],
)
def test_bad_bankroll_or_fraction_is_422_naming_it(app: ServedApp, params: dict, field: str) -> None:  # type: ignore[type-arg]
    with app.client() as c:
        response = c.get("/v1/recommendations", params={"date": DAY, **params})
    assert response.status_code == 422, response.text
    assert ["query", field] in [issue["loc"] for issue in response.json()["detail"]]


# ----------------------------------------------------------------------------------------------
# models, admin, metrics


def test_models_lists_champion_and_challenger_with_evaluation_numbers(
    app: ServedApp, registered: Registered
) -> None:
    with app.client() as c:
        body = c.get("/v1/models").json()
    assert body["registry_reachable"] is True
    assert [t["target"] for t in body["targets"]] == list(MARKETS)
    for target in body["targets"]:
        champion = target["champion"]
        assert champion["name"] == f"{registered.prefix}-{target['target']}"
        assert champion["version"] == "1" and "champion" in champion["aliases"]
        assert target["challenger"]["version"] == "1"  # the first version is both
        assert 0.5 < champion["metrics"]["oof_log_loss"] < 0.8
        assert not any(k.startswith("gain.") for k in champion["metrics"])
        assert champion["train_end"] == "2016-07-31"
        assert target["serving"]["version"] == "1" and target["serving_source"] == "registry"


def test_admin_reload_needs_the_admin_token(app: ServedApp) -> None:
    with app.client() as c:
        missing = c.post("/v1/admin/reload")
        wrong = c.post("/v1/admin/reload", headers=admin_headers("not-the-token"))
        basic = c.post("/v1/admin/reload", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        empty = c.post("/v1/admin/reload", headers={"Authorization": "Bearer"})
        right = c.post("/v1/admin/reload", headers=admin_headers())
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert basic.status_code == 401 and empty.status_code == 401
    assert wrong.status_code == 403 and "not the admin token" in wrong.json()["detail"]
    assert right.status_code == 200, right.text
    changes = right.json()["changes"]
    assert [(ch["target"], ch["before"], ch["after"], ch["changed"]) for ch in changes] == [
        (m, "1", "1", False) for m in MARKETS
    ]


def test_admin_routes_refuse_when_no_token_is_configured(serve, make_settings) -> None:  # type: ignore[no-untyped-def]
    app = serve(make_settings(admin_token=None))
    with app.client() as c:
        response = c.post("/v1/admin/reload", headers=admin_headers())
    assert response.status_code == 403
    assert "MLBEDGE_ADMIN_TOKEN" in response.json()["detail"]


def _sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_histogram_by_route_predictions_and_model_versions(
    app: ServedApp, slate: pl.DataFrame
) -> None:
    game = slate["game_id"][3]
    with app.client() as c:
        before = c.get("/metrics").text
        for _ in range(5):
            assert c.get(f"/v1/predictions/{game}").status_code == 200
        assert c.post("/v1/predictions", json={"game_ids": [game, game]}).status_code == 200
        assert c.get("/no/such/path").status_code == 404
        response = c.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/v1/predictions/{game_id}"
    count = "mlbedge_http_request_duration_seconds_count"
    grew = _sample(text, count, route=route, status="200") - _sample(before, count, route=route, status="200")
    assert grew == 5
    # Every request fell in a bucket no larger than +Inf; the raw path never becomes a label.
    assert _sample(text, "mlbedge_http_request_duration_seconds_bucket", route=route, le="+Inf") >= 5
    assert game not in text
    assert _sample(text, count, route="unmatched", status="404") >= 1
    served = _sample(text, "mlbedge_predictions_total", market="moneyline") - _sample(
        before, "mlbedge_predictions_total", market="moneyline"
    )
    assert served == 7  # five singles and a batch of two
    assert _sample(text, "mlbedge_store_reads_total", backend="redis") >= 6
    for market in MARKETS:
        assert _sample(text, "mlbedge_model_version", target=market) == 1.0
        assert _sample(text, "mlbedge_model_info", target=market, version="1", source="registry") == 1.0


# ----------------------------------------------------------------------------------------------
# limits and faults


def test_rate_limit_is_429_with_retry_after_per_client(serve, make_settings, slate: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    mine = {"X-API-Key": f"client-{uuid.uuid4().hex}"}
    other = {"X-API-Key": f"client-{uuid.uuid4().hex}"}
    keys = f"{mine['X-API-Key']},{other['X-API-Key']}"  # configured keys: a budget each
    app = serve(make_settings(rate_limit_requests=3, rate_limit_window_seconds=30, api_keys=keys))
    game = slate["game_id"][0]
    with app.client() as c:
        answers = [c.get(f"/v1/predictions/{game}", headers=mine).status_code for _ in range(3)]
        refused = c.get(f"/v1/predictions/{game}", headers=mine)
        theirs = c.get(f"/v1/predictions/{game}", headers=other)
        health = [c.get("/health").status_code for _ in range(5)]
        metrics = c.get("/metrics").text
    assert answers == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert "rate limit" in refused.json()["detail"]
    assert theirs.status_code == 200  # another client's budget is its own
    assert health == [200] * 5  # liveness is never limited
    assert _sample(metrics, "mlbedge_rate_limited_total") == 1


def test_no_champion_is_503_saying_so(serve, make_settings, slate: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    app = serve(make_settings(model_name_prefix=f"none{uuid.uuid4().hex[:8]}"))
    game = slate["game_id"][0]
    with app.client() as c:
        single = c.get(f"/v1/predictions/{game}")
        batch = c.post("/v1/predictions", json={"game_ids": [game]})
        bets = c.get("/v1/recommendations", params={"date": DAY, "bankroll": 100})
        ready = c.get("/ready")
        games = c.get("/v1/games", params={"date": DAY})
        models = c.get("/v1/models").json()
    for response in (single, batch, bets):
        assert response.status_code == 503
        assert "no champion model" in response.json()["detail"]
    assert ready.status_code == 503 and ready.json()["missing"] == ["model"]
    assert games.status_code == 200  # the schedule needs no model
    assert all(t["champion"] is None and t["serving"] is None for t in models["targets"])


def test_postgres_down_is_503_and_predictions_still_come_from_redis(
    serve,
    make_settings,
    slate: pl.DataFrame,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """PostgreSQL unreachable (a port nothing listens on): the schedule is 503 naming it, /ready
    says so, and predictions keep coming from Redis, unchanged."""
    from tests.serving.conftest import free_port

    first = serve(make_settings())
    game = slate["game_id"][0]
    with first.client() as c:
        expected = c.get(f"/v1/predictions/{game}").json()
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    app = serve(make_settings(database_url=dead, home=tmp_path / "other_home", serve_db_timeout_seconds=0.5))
    with app.client() as c:
        games = c.get("/v1/games", params={"date": DAY})
        ready = c.get("/ready")
        prediction = c.get(f"/v1/predictions/{game}")
    assert games.status_code == 503 and "PostgreSQL unavailable" in games.json()["detail"]
    assert ready.status_code == 503 and ready.json()["missing"] == ["postgresql"]
    assert prediction.status_code == 200 and prediction.json() == expected


def test_alerts_lists_what_the_monitor_stored(app: ServedApp, serving_db: ServingDb) -> None:
    from mlbedge.monitoring import Finding, raise_alerts

    findings = [
        Finding("feature_drift", "elo_diff", "test-window", "critical", "elo_diff drifted", {"psi": 0.9}),
        Finding("freshness", "vsin", "test-window", "warning", "vsin is stale", {"hours": 30}),
    ]
    with psycopg.connect(serving_db.url) as conn:
        raise_alerts(conn, findings)
        conn.commit()
    try:
        with app.client() as c:
            every = c.get("/v1/alerts")
            critical = c.get("/v1/alerts", params={"min_severity": "critical"})
            bad = c.get("/v1/alerts", params={"min_severity": "loud"})
        assert every.status_code == 200
        ours = [a for a in every.json()["alerts"] if a["window"] == "test-window"]
        listed = [(a["kind"], a["subject"], a["severity"]) for a in ours]
        assert listed == [("feature_drift", "elo_diff", "critical"), ("freshness", "vsin", "warning")]
        severe = [a for a in critical.json()["alerts"] if a["window"] == "test-window"]
        assert [a["subject"] for a in severe] == ["elo_diff"]
        assert severe[0]["evidence"] == {"psi": 0.9}
        assert all(a["severity"] == "critical" for a in critical.json()["alerts"])
        assert bad.status_code == 422 and "min_severity" in bad.text
        groups = {g["kind"]: g for g in every.json()["groups"]}
        drift = groups["feature_drift"]
        assert drift["severity"] == "critical" and "elo_diff" in drift["subjects"]
        assert "elo_diff: psi=0.9" in drift["evidence"]
    finally:
        with psycopg.connect(serving_db.url) as conn:
            conn.execute("DELETE FROM monitoring.alerts WHERE window_key = 'test-window'")
