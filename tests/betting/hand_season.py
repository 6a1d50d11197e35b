"""A tiny season built by hand, where every bet's profit and closing-line value is known in advance.

Five games over two days (April 2021), every price American:

- G1 BOS @ NYY, Apr 1, start unknown (as_of = midnight New York = 04:00 UTC). SBRO open NYY -150 /
  BOS +130, close -170 / +150. Final 5-3 NYY.
- G2 SF @ LAD, Apr 1, start unknown (as_of = midnight Los Angeles = 07:00 UTC). Total 8.5 open
  over -110 / under -110, close 8.5 over -120 / under +100. Final 3-5 (8 runs: under).
- G3 STL @ NYY, Apr 2, start unknown (04:00 UTC). Total 9 open over +100 / under -120, close 9.5
  (another line: no CLV). Final 4-5 (9 runs: push).
- G4 MIL @ CHC, Apr 2, start unknown (midnight Chicago = 05:00 UTC). ML open CHC -120 / MIL +100.
  No result (postponed): no action.
- G5 TEX @ HOU, Apr 2, first pitch 23:10 UTC (as_of 22:10 UTC with a 60-minute cutoff). SBRO open
  ML too (never offered: the start is known). Pinnacle snapshots: 18:00 UTC HOU -1.5 +140 / TEX
  +1.5 -160 (the one in force at as_of); 22:30 UTC HOU +155 / TEX -180 (after as_of: the close);
  23:40 UTC (after first pitch: ignored everywhere). Final 4-3 HOU (TEX +1.5 covers).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from mlbedge.betting.backtest import GAMES_SCHEMA, BacktestInputs, Context, market_snapshots
from mlbedge.features.asof import TIMESTAMP

CUTOFF = 60
G1, G2, G3, G4, G5 = (
    "20210401-BOS-NYY-0",
    "20210401-SF-LAD-0",
    "20210402-STL-NYY-0",
    "20210402-MIL-CHC-0",
    "20210402-TEX-HOU-0",
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# The cutoffs by hand: local midnight for unknown starts, first pitch - 60 min otherwise.
AS_OF = {
    G1: utc(2021, 4, 1, 4),
    G2: utc(2021, 4, 1, 7),
    G3: utc(2021, 4, 2, 4),
    G4: utc(2021, 4, 2, 5),
    G5: utc(2021, 4, 2, 22, 10),
}
# When each result is observed: midnight after the game's local date, in the home team's zone.
OBSERVED = {
    G1: utc(2021, 4, 2, 4),
    G2: utc(2021, 4, 2, 7),
    G3: utc(2021, 4, 3, 4),
    G4: utc(2021, 4, 3, 5),
    G5: utc(2021, 4, 3, 5),
}


def _game(game_id: str, day: date, home: tuple[int, str], away: tuple[int, str], **values: object) -> dict:
    row: dict[str, object] = dict.fromkeys(GAMES_SCHEMA)
    row.update(
        game_id=game_id,
        season=2021,
        date=day,
        game_type="R",
        home_team_id=home[0],
        home_team=home[1],
        away_team_id=away[0],
        away_team=away[1],
    )
    row.update(values)
    return row


def games() -> pl.DataFrame:
    """The five games with their results and opening and closing lines."""
    d1, d2 = date(2021, 4, 1), date(2021, 4, 2)
    rows = [
        _game(G1, d1, (147, "NYY"), (111, "BOS"), home_score=5, away_score=3,
              home_ml_open=-150, away_ml_open=130, home_ml_close=-170, away_ml_close=150),
        _game(G2, d1, (119, "LAD"), (137, "SF"), home_score=3, away_score=5,
              total_open=8.5, over_odds_open=-110, under_odds_open=-110,
              total_close=8.5, over_odds_close=-120, under_odds_close=100),
        _game(G3, d2, (147, "NYY"), (138, "STL"), home_score=4, away_score=5,
              total_open=9.0, over_odds_open=100, under_odds_open=-120,
              total_close=9.5, over_odds_close=-105, under_odds_close=-115),
        _game(G4, d2, (112, "CHC"), (158, "MIL"), home_ml_open=-120, away_ml_open=100),
        _game(G5, d2, (117, "HOU"), (140, "TEX"), home_score=4, away_score=3,
              start_time_utc=utc(2021, 4, 2, 23, 10), pin_game_no=1,
              home_ml_open=-140, away_ml_open=120),
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=GAMES_SCHEMA)


def pinnacle_lines() -> pl.DataFrame:
    """G5's line snapshots (Pinnacle's layout: away handicap, away/home prices)."""
    snap = {
        "pin_game_no": [1, 1, 1],
        "observed_at": [utc(2021, 4, 2, 18), utc(2021, 4, 2, 22, 30), utc(2021, 4, 2, 23, 40)],
        "away_rl": [1.5, 1.5, 1.5],
        "away_rl_odds": [-160, -180, -250],
        "home_rl_odds": [140, 155, 200],
        "away_ml": [115, 125, 150],
        "home_ml": [-135, -145, -170],
        "total": [8.5, 8.5, 8.5],
        "over_odds": [-105, -110, -110],
        "under_odds": [-115, -110, -110],
        "flags": ["", "", "after_start"],
    }
    return pl.DataFrame(snap).with_columns(pl.col("observed_at").cast(TIMESTAMP))


def features(frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """Feature rows: the keys and cutoffs, and one feature (a home win probability) for model tests."""
    g = frame if frame is not None else games()
    ids = g["game_id"].to_list()
    return pl.DataFrame(
        {
            "game_id": ids,
            "season": [2021] * len(ids),
            "date": g["date"].to_list(),
            "as_of": [AS_OF[i] for i in ids],
            "start_known": [i == G5 for i in ids],
            "ml_home_prob": [0.55] * len(ids),
        },
        schema_overrides={"as_of": TIMESTAMP, "season": pl.Int32},
    )


def inputs() -> BacktestInputs:
    """The hand season ready to backtest."""
    g = games()
    snapshots = market_snapshots(g, pinnacle_lines=pinnacle_lines(), cutoff_minutes=CUTOFF)
    return BacktestInputs(g, features(g), snapshots, CUTOFF)


# The bets of the hand strategy: game -> (market, side, book, stake).
PLAN: dict[str, tuple[str, str, str, float]] = {
    G1: ("moneyline", "home", "sbro", 100.0),
    G2: ("total", "under", "sbro", 55.0),
    G3: ("total", "over", "sbro", 40.0),
    G4: ("moneyline", "home", "sbro", 30.0),
    G5: ("runline", "away", "pinnacle", 80.0),
}


class PlanStrategy:
    """Bets :data:`PLAN` at whatever the context offers, and keeps every context it was given."""

    def __init__(self, plan: dict[str, tuple[str, str, str, float]] | None = None) -> None:
        self.plan = PLAN if plan is None else plan
        self.contexts: list[Context] = []

    def __call__(self, context: Context) -> pl.DataFrame:
        self.contexts.append(context)
        rows = []
        for quote in context.quotes.iter_rows(named=True):
            planned = self.plan.get(quote["game_id"])
            if planned is None or (planned[0], planned[2]) != (quote["market"], quote["book"]):
                continue
            market, side, book, stake = planned
            odds = quote["price_a"] if side in ("home", "over") else quote["price_b"]
            rows.append(
                {"game_id": quote["game_id"], "market": market, "side": side, "book": book,
                 "line": quote["line"], "odds": odds, "stake": stake}
            )  # fmt: skip
        schema = {"game_id": pl.String, "market": pl.String, "side": pl.String, "book": pl.String,
                  "line": pl.Float64, "odds": pl.Int64, "stake": pl.Float64}  # fmt: skip
        return pl.DataFrame(rows, schema=schema)
