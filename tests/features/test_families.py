"""Each family's values, recomputed independently from the real data (and by hand where small)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from mlbedge.domain.odds import fair_two_way
from mlbedge.domain.teams import by_mlb_id
from mlbedge.features import team
from mlbedge.features.asof import TIMESTAMP
from mlbedge.features.pipeline import FeatureInputs, build_features
from mlbedge.features.pitcher import starter_key
from mlbedge.features.registry import Family, registry
from tests.features.conftest import CUTOFF
from tests.features.oracle import observation_times


@pytest.fixture(scope="module")
def games(real_inputs: FeatureInputs) -> pl.DataFrame:
    clock = observation_times(real_inputs.games, CUTOFF)
    return real_inputs.games.join(clock, on="game_id")


def _feature(baseline: pl.DataFrame, game_id: str, name: str):  # type: ignore[no-untyped-def]
    return baseline.filter(pl.col("game_id") == game_id)[name].item()


def _team_history(games: pl.DataFrame, team_id: int, season: int, as_of: datetime) -> list[dict]:
    """The team's results this season observed by ``as_of``, oldest first (plain Python)."""
    rows = games.filter(
        pl.col("season") == season,
        (pl.col("home_team_id") == team_id) | (pl.col("away_team_id") == team_id),
        pl.col("home_score").is_not_null(),
        pl.col("result_observed_at") <= as_of,
    ).sort("date", "game_num")
    out = []
    for r in rows.iter_rows(named=True):
        home = r["home_team_id"] == team_id
        rf, ra = (r["home_score"], r["away_score"]) if home else (r["away_score"], r["home_score"])
        out.append(
            {"rf": rf, "ra": ra, "home": home, "opp": r["away_team_id"] if home else r["home_team_id"]}
        )
    return out


def test_team_form_matches_a_plain_recount(games: pl.DataFrame, baseline: pl.DataFrame) -> None:
    sample = games.filter(pl.col("game_type") == "R").sample(n=40, seed=3)
    for g in sample.iter_rows(named=True):
        for side in ("home", "away"):
            hist = _team_history(games, g[f"{side}_team_id"], g["season"], g["as_of"])
            feat = lambda name, s=side, gid=g["game_id"]: _feature(baseline, gid, f"{s}_{name}")  # noqa: E731
            assert feat("games_season") == len(hist)
            if not hist:
                assert feat("win_pct_season") is None and feat("win_pct_l5") is None
                continue
            decided = [h for h in hist if h["rf"] != h["ra"]]
            wins = sum(h["rf"] > h["ra"] for h in decided)
            assert feat("win_pct_season") == pytest.approx(wins / len(decided), rel=1e-12)
            assert feat("runs_scored_pg_season") == pytest.approx(
                sum(h["rf"] for h in hist) / len(hist), rel=1e-12
            )
            last5 = hist[-5:]
            assert feat("run_diff_pg_l5") == pytest.approx(
                sum(h["rf"] - h["ra"] for h in last5) / len(last5), abs=1e-12
            )
            rs, ra = sum(h["rf"] for h in hist[-20:]), sum(h["ra"] for h in hist[-20:])
            assert feat("pythag_l20") == pytest.approx(rs**1.83 / (rs**1.83 + ra**1.83), rel=1e-12)
            streak, last = 0, None
            for h in hist:
                outcome = (h["rf"] > h["ra"]) - (h["rf"] < h["ra"])
                streak = streak + outcome if outcome == last and outcome != 0 else outcome
                last = outcome
            assert feat("streak") == streak
            venue = [h for h in hist if h["home"] == (side == "home")]
            assert feat("venue_games_season") == len(venue)
        h2h = [
            h
            for h in _team_history(games, g["home_team_id"], g["season"], g["as_of"])
            if h["opp"] == g["away_team_id"]
        ]
        assert _feature(baseline, g["game_id"], "h2h_games_season") == len(h2h)


def test_elo_update_by_hand() -> None:
    """One day, one game: the home team (1500, +24 edge) wins 5-2; K=4, margin multiplier."""
    observed = datetime(2015, 4, 7, 4, tzinfo=UTC)
    schedule = pl.DataFrame(
        {
            "game_id": ["g"],
            "season": [2015],
            "date": [date(2015, 4, 6)],
            "game_num": [0],
            "home_team_id": [147],
            "away_team_id": [111],
        }
    )
    results = pl.DataFrame(
        {"game_id": ["g"], "home_score": [5], "away_score": [2], "observed_at": [observed]}
    ).with_columns(pl.col("observed_at").cast(TIMESTAMP))
    state = team.elo_state(schedule.lazy(), results.lazy()).sort("team_id")
    expected_home = 1.0 / (1.0 + 10 ** (-24 / 400))
    multiplier = math.log(4) * 2.2 / (24 * 0.001 + 2.2)
    delta = 4.0 * multiplier * (1 - expected_home)
    assert state.filter(pl.col("team_id") == 147)["elo"].item() == pytest.approx(1500 + delta, rel=1e-12)
    assert state.filter(pl.col("team_id") == 111)["elo"].item() == pytest.approx(1500 - delta, rel=1e-12)
    assert state["observed_at"].to_list() == [results["observed_at"].item()] * 2


def _elo_by_hand(games: pl.DataFrame) -> dict[int, float]:
    """Every team's rating after 2015, recounted in plain Python: daily rounds (a suspended game on
    the day it was completed), each game rated from the ratings at the start of its day."""
    played = games.filter(pl.col("season") == 2015, pl.col("home_score").is_not_null()).with_columns(
        day=pl.coalesce("completion_date", "date")
    )
    ratings: dict[int, float] = {}
    for _, day in played.sort("day", "game_num", "home_team_id", "game_id").group_by(
        "day", maintain_order=True
    ):
        start = dict(ratings)
        for g in day.iter_rows(named=True):
            h, a = start.get(g["home_team_id"], 1500.0), start.get(g["away_team_id"], 1500.0)
            diff = h + 24.0 - a
            margin = g["home_score"] - g["away_score"]
            expected = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
            outcome = 1.0 if margin > 0 else 0.0 if margin < 0 else 0.5
            winner_diff = diff if margin > 0 else -diff
            multiplier = math.log(abs(margin) + 1.0) * 2.2 / (winner_diff * 0.001 + 2.2)
            delta = 4.0 * multiplier * (outcome - expected)
            ratings[g["home_team_id"]] = ratings.get(g["home_team_id"], 1500.0) + delta
            ratings[g["away_team_id"]] = ratings.get(g["away_team_id"], 1500.0) - delta
    return ratings


def test_elo_matches_a_plain_recount_and_carries_over_regressed(
    games: pl.DataFrame, baseline: pl.DataFrame
) -> None:
    """2015 recounted by hand: every team's end-of-season rating, and on 2016's first games each
    rating pulled a third of the way back to 1500."""
    opening = baseline.filter(pl.col("date") == pl.date(2015, 4, 6))
    assert (opening["home_elo"] == 1500.0).all() and (opening["elo_diff"] == 24.0).all()
    state = team.elo_state(
        games.select("game_id", "season", "date", "game_num", "home_team_id", "away_team_id").lazy(),
        games.select(
            "game_id",
            "home_score",
            "away_score",
            pl.coalesce("completion_date", "date").alias("result_date"),
            pl.col("result_observed_at").alias("observed_at"),
        ).lazy(),
    )
    end_2015 = dict(
        state.filter(pl.col("season") == 2015).group_by("team_id").agg(pl.col("elo").last()).iter_rows()
    )
    by_hand = _elo_by_hand(games)
    assert len(by_hand) == 30 and set(end_2015) == set(by_hand)
    for team_id, rating in by_hand.items():
        assert end_2015[team_id] == pytest.approx(rating, rel=1e-12), team_id
    first_day = baseline.filter(pl.col("season") == 2016)["date"].min()
    first_2016 = baseline.filter(pl.col("date") == first_day).join(
        games.select("game_id", "home_team_id", "away_team_id"), on="game_id"
    )
    assert first_2016.height >= 3 and (first_2016["home_games_season"] == 0).all()
    for g in first_2016.iter_rows(named=True):
        for side in ("home", "away"):
            carried = 1500.0 + (by_hand[g[f"{side}_team_id"]] - 1500.0) * 2.0 / 3.0
            assert g[f"{side}_elo"] == pytest.approx(carried, rel=1e-12)


def test_pitcher_rest_and_starts_match_a_recount(games: pl.DataFrame, baseline: pl.DataFrame) -> None:
    keyed = games.with_columns(
        hk=starter_key(pl.col("home_listed_starter")), ak=starter_key(pl.col("away_listed_starter"))
    )
    starts = pl.concat(
        [
            keyed.select(
                "game_id", "season", "date", "result_observed_at", "home_score", team="home_team_id", key="hk"
            ),
            keyed.select(
                "game_id", "season", "date", "result_observed_at", "home_score", team="away_team_id", key="ak"
            ),
        ]
    ).filter(pl.col("key").is_not_null(), pl.col("home_score").is_not_null())
    sample = keyed.filter(pl.col("hk").is_not_null()).sample(n=40, seed=5)
    checked = 0
    for g in sample.iter_rows(named=True):
        earlier = starts.filter(
            pl.col("season") == g["season"],
            pl.col("team") == g["home_team_id"],
            pl.col("key") == g["hk"],
            pl.col("result_observed_at") <= g["as_of"],
        )
        assert _feature(baseline, g["game_id"], "home_sp_starts_season") == earlier.height
        rest = _feature(baseline, g["game_id"], "home_sp_days_rest")
        if earlier.height:
            assert rest == (g["date"] - earlier["date"].max()).days - 1
            checked += 1
        else:
            assert rest is None
        hand = g["home_starter_hand"]
        assert _feature(baseline, g["game_id"], "home_sp_left") == {"L": 1, "R": 0}.get(hand)
    assert checked > 20


def test_starter_keys_agree_across_sources() -> None:
    names = pl.Series(["Adam Wainwright", "AWAINWRIGHT", "C.C. Sabathia", "  ", None, "J.A. Happ"])
    keys = pl.select(starter_key(pl.lit(names))).to_series().to_list()
    assert keys[0] == keys[1] == "AWAINWRIGHT"
    assert keys[2] == "CSABATHIA" and keys[3] is None and keys[4] is None and keys[5] == "JHAPP"


def test_schedule_and_travel(games: pl.DataFrame, baseline: pl.DataFrame) -> None:
    g2015 = games.filter(pl.col("season") == 2015)
    # Retrosheet's D/N is the only day/night source: null only for the games the game logs lack.
    night = baseline.filter(pl.col("season") == 2015).join(g2015.select("game_id", "day_night"), on="game_id")
    assert (night["is_night"] == (night["day_night"] == "N").cast(pl.Int8)).all()
    g2016 = games.filter(pl.col("season") == 2016)
    assert (
        baseline.filter(pl.col("season") == 2016)["is_night"].null_count() == g2016["day_night"].null_count()
    )
    # An away team's travel is the great-circle distance from its previous game's park.
    sample = g2015.filter(pl.col("game_type") == "R").sample(n=30, seed=11)
    for g in sample.iter_rows(named=True):
        team_id = g["away_team_id"]
        before = g2015.filter(
            (pl.col("home_team_id") == team_id) | (pl.col("away_team_id") == team_id),
            pl.col("date") < g["date"],
        ).sort("date", "game_num")
        travel = _feature(baseline, g["game_id"], "away_travel_km")
        rest = _feature(baseline, g["game_id"], "away_rest_days")
        if before.is_empty():
            assert travel is None and rest is None
            continue
        prev = before.row(-1, named=True)
        a, b = by_mlb_id(prev["home_team_id"]), by_mlb_id(g["home_team_id"])
        p1, p2 = math.radians(a.lat), math.radians(b.lat)
        h = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
        )
        assert travel == pytest.approx(2 * 6371.0088 * math.asin(math.sqrt(h)), rel=1e-9)
        assert rest == (g["date"] - prev["date"]).days - 1
        week = before.filter(pl.col("date") >= g["date"] - timedelta(days=7)).height
        assert _feature(baseline, g["game_id"], "away_games_last_7_days") == week


def test_tz_shift_and_series_game_numbers(games: pl.DataFrame, baseline: pl.DataFrame) -> None:
    shifts = baseline.select("away_tz_shift_hours").drop_nulls().to_series()
    assert set(shifts.unique().to_list()) <= {-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0}
    assert (shifts == 3.0).sum() > 10 and (shifts == -3.0).sum() > 10
    # Recount the Yankees' 2015 series: same opponent and park on consecutive playing dates.
    nyy = 147
    mine = games.filter(
        pl.col("season") == 2015, (pl.col("home_team_id") == nyy) | (pl.col("away_team_id") == nyy)
    ).sort("date", "game_num")
    number, previous, expected = 0, None, {}
    for g in mine.iter_rows(named=True):
        series = (g["home_team_id"], g["away_team_id"])
        number = number + 1 if series == previous else 1
        previous = series
        expected[g["game_id"]] = number
    side = (
        pl.when(pl.col("home_team_id") == nyy)
        .then(pl.col("home_series_game_number"))
        .otherwise(pl.col("away_series_game_number"))
    )
    got = dict(
        baseline.join(mine.select("game_id", "home_team_id"), on="game_id")
        .select("game_id", side)
        .iter_rows()
    )
    assert got == expected
    assert max(expected.values()) >= 4


def test_sbro_only_games_price_from_the_opening_line_alone(
    games: pl.DataFrame, baseline: pl.DataFrame
) -> None:
    g2015 = games.filter(pl.col("season") == 2015, pl.col("home_ml_open").is_not_null()).sample(n=50, seed=2)
    home, _ = fair_two_way(g2015["home_ml_open"].to_numpy(), g2015["away_ml_open"].to_numpy())
    over, _ = fair_two_way(g2015["over_odds_open"].to_numpy(), g2015["under_odds_open"].to_numpy())
    got = g2015.select("game_id").join(baseline, on="game_id", how="left", maintain_order="left")
    assert np.allclose(got["ml_home_prob"].to_numpy(), home, rtol=0, atol=1e-15)
    assert np.allclose(got["total_over_prob"].to_numpy(), over, rtol=0, atol=1e-15, equal_nan=True)
    assert (got["total_line"] == g2015["total_open"]).all()
    # One undated opening line: no movement, no run line, a single book (unknown, not zero).
    for name in (
        "ml_home_prob_move",
        "ml_move_per_hour",
        "total_line_move",
        "rl_home_cover_prob",
        "ml_disagreement",
    ):
        assert got[name].null_count() == got.height, name
    assert (got["ml_book_count"] == 1).all() and (got["rl_book_count"] == 0).all()
    assert (got["market_books"] == "sbro").all()


def test_pinnacle_games_use_the_last_snapshot_before_the_cutoff(
    games: pl.DataFrame, baseline: pl.DataFrame, real_inputs: FeatureInputs
) -> None:
    lines = real_inputs.pinnacle_lines
    assert lines is not None
    sample = games.filter(pl.col("pin_game_no").is_not_null(), pl.col("home_ml_open").is_not_null()).sample(
        n=25, seed=4
    )
    for g in sample.iter_rows(named=True):
        mine = lines.filter(
            pl.col("pin_game_no") == g["pin_game_no"],
            pl.col("home_ml").is_not_null() & pl.col("away_ml").is_not_null(),
            ~pl.col("flags").str.contains("absurd_price"),
        ).sort("observed_at")
        seen = mine.filter(pl.col("observed_at") <= g["as_of"])
        if seen.is_empty():
            continue
        last, first = seen.row(-1, named=True), seen.row(0, named=True)
        pin_now = fair_two_way(last["home_ml"], last["away_ml"])[0]
        pin_open = fair_two_way(first["home_ml"], first["away_ml"])[0]
        sbro = fair_two_way(g["home_ml_open"], g["away_ml_open"])[0]
        feat = lambda n, gid=g["game_id"]: _feature(baseline, gid, n)  # noqa: E731
        assert feat("ml_home_prob") == pytest.approx((pin_now + sbro) / 2, abs=1e-14)
        assert feat("ml_home_prob_open") == pytest.approx((pin_open + sbro) / 2, abs=1e-14)
        assert feat("ml_home_prob_move") == pytest.approx(pin_now - pin_open, abs=1e-14)
        assert feat("ml_disagreement") == pytest.approx(abs(pin_now - sbro), abs=1e-14)
        assert feat("ml_n_quotes") == seen.height + 1
        hours = (last["observed_at"] - first["observed_at"]).total_seconds() / 3600
        if hours > 0:
            assert feat("ml_move_per_hour") == pytest.approx((pin_now - pin_open) / hours, rel=1e-9)
        assert feat("src_market_observed_at") == max(last["observed_at"], g["day_start"])
        assert feat("mkt_minutes_since_last_quote") == pytest.approx(
            (
                g["as_of"] - mine.filter(pl.col("observed_at") <= g["as_of"])["observed_at"].max()
            ).total_seconds()
            / 60,
            abs=1e-6,
        )


def _splits_rows(game_id: str, as_of: datetime, rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "game_id": game_id,
                "book": b,
                "market": m,
                "side": s,
                "bets_pct": bets,
                "money_pct": money,
                "observed_at": as_of + timedelta(minutes=dt),
                "in_play": in_play,
            }
            for b, m, s, bets, money, dt, in_play in rows
        ]
    ).with_columns(pl.col("observed_at").cast(TIMESTAMP))


def test_splits_in_force_at_the_cutoff_averaged_over_books(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """SYNTHETIC splits on one real 2016 game with a Pinnacle history."""
    g = baseline.filter(pl.col("ml_home_prob_move").is_not_null() & (pl.col("ml_home_prob_move") != 0)).row(
        0, named=True
    )
    cut = g["as_of"]
    splits = _splits_rows(
        g["game_id"],
        cut,
        [
            ("X", "moneyline", "home", 60.0, 40.0, -300, False),
            ("X", "moneyline", "home", 70.0, 45.0, -60, False),
            ("X", "moneyline", "home", 10.0, 10.0, 10, False),  # after the cutoff: never seen
            ("X", "moneyline", "home", 5.0, 5.0, 90, True),  # in play
            ("Y", "moneyline", "away", 30.0, 20.0, -120, False),  # home side inferred: 70 / 80
            ("X", "total", "over", 55.0, 65.0, -30, False),
        ],
    )
    got = build_features(
        replace(real_inputs, splits=splits), cutoff_minutes=CUTOFF, game_ids=[g["game_id"]]
    ).row(0, named=True)
    assert got["splits_ml_home_bets_pct"] == pytest.approx(70.0)
    assert got["splits_ml_home_money_pct"] == pytest.approx((45.0 + 80.0) / 2)
    assert got["splits_ml_home_money_minus_bets"] == pytest.approx(62.5 - 70.0)
    assert got["splits_ml_home_bets_move"] == pytest.approx((10.0 + 0.0) / 2)
    assert got["splits_total_over_bets_pct"] == 55.0 and got["splits_rl_home_bets_pct"] is None
    assert got["splits_book_count"] == 2
    assert got["splits_minutes_since_update"] == pytest.approx(30.0)
    against = (70.0 > 50) != (g["ml_home_prob_move"] > 0)
    assert got["splits_ml_reverse_line_move"] == int(against)
    assert got["src_splits_observed_at"] == cut - timedelta(minutes=30)
    # The other families do not move when splits arrive.
    others = [f.name for f in registry() if f.family is not Family.SPLITS]
    assert {k: got[k] for k in others} == {k: g[k] for k in others}


def test_no_splits_means_null_never_zero(baseline: pl.DataFrame) -> None:
    splits = [f.name for f in registry().family(Family.SPLITS) if f.nullable]
    assert baseline.select(pl.col(splits).null_count()).row(0) == (baseline.height,) * len(splits)
    assert (baseline["splits_book_count"] == 0).all() and baseline[
        "splits_books"
    ].null_count() == baseline.height


def test_live_quotes_join_the_consensus_and_in_play_quotes_are_ignored(
    live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    """SYNTHETIC live quotes from two books on 240 real 2016 games: each book's last pre-game
    quote at or before the cutoff joins SBRO's open and Pinnacle's snapshot in the consensus."""
    live = live_baseline.filter(pl.col("market_books").str.contains("bookA").fill_null(False))
    assert live.height > 200 and (live["ml_book_count"] == 4).mean() > 0.9
    quotes, lines, games = live_inputs.quotes, live_inputs.pinnacle_lines, live_inputs.games
    assert quotes is not None and lines is not None
    assert quotes.filter(pl.col("in_play")).height > 0
    for g in live.filter(pl.col("ml_book_count") == 4).head(10).iter_rows(named=True):
        probs = []
        for book in ("bookA", "bookB"):
            seen = quotes.filter(
                pl.col("game_id") == g["game_id"], pl.col("book") == book, pl.col("market") == "moneyline",
                pl.col("observed_at") <= g["as_of"], ~pl.col("in_play"),
            )  # fmt: skip
            last = seen.filter(pl.col("observed_at") == seen["observed_at"].max())
            side = dict(zip(last["side"], last["price"], strict=True))
            probs.append(fair_two_way(side["home"], side["away"])[0])
        row = games.filter(pl.col("game_id") == g["game_id"]).row(0, named=True)
        probs.append(fair_two_way(row["home_ml_open"], row["away_ml_open"])[0])
        pin = lines.filter(
            pl.col("pin_game_no") == row["pin_game_no"], pl.col("observed_at") <= g["as_of"],
            pl.col("home_ml").is_not_null(), ~pl.col("flags").str.contains("absurd_price"),
        ).sort("observed_at").row(-1, named=True)  # fmt: skip
        probs.append(fair_two_way(pin["home_ml"], pin["away_ml"])[0])
        assert g["ml_home_prob"] == pytest.approx(sum(probs) / 4, abs=1e-14)
        assert g["ml_disagreement"] == pytest.approx(max(probs) - min(probs), abs=1e-14)
        assert g["src_market_observed_at"] <= g["as_of"]


def test_live_sides_stamped_at_different_times_pair_as_of(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """SYNTHETIC outcome-stamped history on one real 2016 game: each side's price carries its own
    time; the book's snapshot at the cutoff pairs each side's last price before it."""
    g = baseline.filter(pl.col("start_known"), pl.col("ml_book_count") == 2).row(500, named=True)
    cut = g["as_of"]
    rows = [
        ("home", -150, -180),  # alone: no market yet
        ("away", 140, -120),  # first pair: -150 / +140
        ("home", -170, -60),  # in force at the cutoff: -170 / +140
        ("home", -300, 10),  # after the cutoff
        ("away", 250, 20),
    ]
    quotes = pl.DataFrame(
        {
            "game_id": [g["game_id"]] * len(rows),
            "book": ["H"] * len(rows),
            "market": ["moneyline"] * len(rows),
            "side": [r[0] for r in rows],
            "line": [None] * len(rows),
            "price": [r[1] for r in rows],
            "observed_at": [cut + timedelta(minutes=r[2]) for r in rows],
            "in_play": [False] * len(rows),
        }
    ).with_columns(pl.col("observed_at").cast(TIMESTAMP), pl.col("line").cast(pl.Float64))
    got = build_features(
        replace(real_inputs, quotes=quotes), cutoff_minutes=CUTOFF, game_ids=[g["game_id"]]
    ).row(0, named=True)
    now, opened = fair_two_way(-170, 140)[0], fair_two_way(-150, 140)[0]
    assert got["ml_book_count"] == 3 and got["market_books"] == "H,pinnacle,sbro"
    assert got["ml_home_prob"] * 3 - g["ml_home_prob"] * 2 == pytest.approx(now, abs=1e-12)
    assert got["ml_home_prob_open"] * 3 - g["ml_home_prob_open"] * 2 == pytest.approx(opened, abs=1e-12)
    assert got["ml_n_quotes"] == g["ml_n_quotes"] + 2
    assert got["src_market_observed_at"] == max(g["src_market_observed_at"], cut - timedelta(minutes=60))
