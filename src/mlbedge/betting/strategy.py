"""The betting rule: from the model's probability at every offered price to the stakes of a slate.

One rule, called by the backtest (:class:`mlbedge.betting.backtest.ModelStrategy`) and by the API
(:mod:`mlbedge.serving.recommend`), so the bets a backtest measures are the bets the API serves.

The input is the *priced* offers of one slate: per game, book and market the quote offered at the
cutoff (:data:`mlbedge.features.prices.OFFER_SCHEMA` columns) with ``p_a``, the model's probability
of side a (home, over, home) at the quote's **own** line. The rule:

1. **Both sides** of every quote are candidates (:meth:`BetRule.candidates`): side a at
   ``price_a`` with ``p_a``, side b at ``price_b`` with ``1 - p_a`` (at a whole-number total the
   model's probability is conditional on no push, which is what Kelly needs when a push returns the
   stake). Probabilities are kept inside ``(P_CLIP, 1 - P_CLIP)``.
2. The **edge** of a side is its expected profit per unit staked, ``p * decimal_odds - 1``.
3. **Price shopping**: per game, market and side the book with the largest edge; ties go to the
   first book by name (:meth:`BetRule.best_prices`).
4. The slate is **sized** at once by :func:`mlbedge.betting.kelly.size_slate` (simultaneous Kelly,
   the Kelly fraction, per-bet, per-game and slate caps), with the exposure cap reduced by what is
   still at stake on earlier bets (``pending_stake``).

0. The **skill gate** (:mod:`mlbedge.skill`, given per market): a market whose gate failed is not
   priced at all; an open one's ``p_a`` is the model blended with the offer's de-vigged price
   (``fair_a``) on the logit scale by the gate's weight; after step 2 no edge exceeds
   ``max_edge``. Without gates the model's probability stands as it is.

Adjustments of a side before it is sized belong in :meth:`BetRule.candidates`: every caller then
gets them.

**The close rule** (:class:`CloseRule`, the close strategy's; the backtest's
:class:`~mlbedge.betting.backtest.CloseStrategy` and the API's close recommendations): the offers
are the prices in force at the open, each priced by the predicted close of its game
(:func:`predicted_close`: the game's reference open moved by the move model's prediction); a side
is a candidate where its predicted close beats the offer by more than the margin (logit), its edge
is the expected closing-line value, and the slate is sized as above.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mlbedge.betting.kelly import StakingPolicy, size_slate
from mlbedge.betting.skill import apply_skill, cap_edges
from mlbedge.domain.markets import SIDE_A, SIDE_B
from mlbedge.domain.odds import american_to_decimal
from mlbedge.skill import DEFAULT_CLOSE_MARGIN, Gate

# Probabilities handed to the staking policy (and out of the API) stay strictly inside (0, 1):
# a calibrator may touch the ends, where Kelly's logarithm is undefined.
P_CLIP = 1e-6
# Below this share of the bankroll left under the exposure cap, nothing more is staked.
_NO_ROOM = 1e-9


def exposure_limit(max_exposure: float, bankroll: float, pending_stake: float) -> float | None:
    """The share of ``bankroll`` a new slate may stake: ``max_exposure`` less what earlier bets
    still have at stake. None when there is no cash at hand or no room left under the cap."""
    room = max_exposure - (pending_stake / bankroll if bankroll > 0 else 1.0)
    if bankroll - pending_stake <= 0 or room <= _NO_ROOM:
        return None
    return room if pending_stake else max_exposure


# One candidate side at one book. ``line`` is the quote's (the total; the HOME handicap of a run line).
CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "book": pl.String(),
    "line": pl.Float64(),
    "odds": pl.Int64(),
    "probability": pl.Float64(),
    "edge": pl.Float64(),
}
# Columns of the offers carried through to the candidates and bets when present.
PASSTHROUGH: tuple[str, ...] = ("observed_at", "as_of")


@dataclass(frozen=True)
class Decision:
    """One slate decided: every side considered and the bets staked.

    ``candidates``: :data:`CANDIDATE_SCHEMA` (plus ``observed_at``/``as_of`` when the offers had
    them), one row per side and book. ``bets``: the sized best prices with a stake, in the order they
    were sized: the candidate columns and those :func:`~mlbedge.betting.kelly.size_slate` adds
    (``decimal_odds, edge, kelly, kelly_slate, fraction, stake, reason``).
    """

    candidates: pl.DataFrame
    bets: pl.DataFrame


@dataclass(frozen=True)
class BetRule:
    """The betting rule of the module notes, with its staking policy and, per market, its skill
    gate (:mod:`mlbedge.skill`): a closed market is not priced, an open one bets on the model
    blended with the offer's price by the gate's weight, and no edge exceeds ``max_edge``."""

    policy: StakingPolicy = field(default_factory=StakingPolicy)
    gates: Mapping[str, Gate] = field(default_factory=dict)
    max_edge: float | None = None

    def candidates(self, priced: pl.DataFrame) -> pl.DataFrame:
        """Both sides of every priced offer with probability and edge (steps 1-2 of the notes).

        ``priced``: ``game_id, market, book, line, price_a, price_b, p_a`` (and optionally
        ``observed_at``, ``as_of``). A side whose probability is not finite is left out.
        """
        extra = [c for c in PASSTHROUGH if c in priced.columns]
        schema = {**CANDIDATE_SCHEMA, **{c: priced.schema[c] for c in extra}}
        priced = apply_skill(priced, self.gates)
        if priced.is_empty():
            return pl.DataFrame(schema=schema)
        side_a = pl.col("market").replace_strict(SIDE_A, return_dtype=pl.String)
        side_b = pl.col("market").replace_strict(SIDE_B, return_dtype=pl.String)
        p_a = pl.col("p_a").cast(pl.Float64).clip(P_CLIP, 1.0 - P_CLIP)
        sides = pl.concat(
            [
                priced.select(
                    "game_id", "market", side_a.alias("side"), "book", pl.col("line").cast(pl.Float64),
                    pl.col("price_a").cast(pl.Int64).alias("odds"), p_a.alias("probability"), *extra,
                ),
                priced.select(
                    "game_id", "market", side_b.alias("side"), "book", pl.col("line").cast(pl.Float64),
                    pl.col("price_b").cast(pl.Int64).alias("odds"), (1.0 - p_a).alias("probability"), *extra,
                ),
            ]
        ).filter(pl.col("probability").is_finite())  # fmt: skip
        decimal = np.asarray(american_to_decimal(sides["odds"].cast(pl.Float64).to_numpy()), dtype=np.float64)
        sides = sides.with_columns(edge=pl.col("probability") * pl.Series(decimal, dtype=pl.Float64) - 1.0)
        return cap_edges(sides, self.max_edge).select(list(schema))

    @staticmethod
    def best_prices(candidates: pl.DataFrame) -> pl.DataFrame:
        """Per game, market and side the book with the largest edge; ties go to the first book by name."""
        return candidates.sort(["edge", "book"], descending=[True, False]).unique(
            ["game_id", "market", "side"], keep="first", maintain_order=True
        )

    def decide(self, priced: pl.DataFrame, bankroll: float, *, pending_stake: float = 0.0) -> Decision:
        """The slate's bets: candidates, best price per side, sized together (the module notes).

        ``bankroll``: the wealth stakes are fractions of; ``pending_stake``: what is still at stake
        on earlier bets (it lowers the cash at hand and the room under the exposure cap).
        """
        sides = self.candidates(priced)
        limit = exposure_limit(self.policy.max_exposure, bankroll, pending_stake)
        # Nothing to size: no cash, no room, or no side clearing the minimum edge.
        if sides.is_empty() or limit is None or not (sides["edge"] > max(self.policy.min_edge, 0.0)).any():
            return Decision(sides, _no_bets(sides))
        best = self.best_prices(sides)
        policy = self.policy.model_copy(update={"max_exposure": limit}) if pending_stake else self.policy
        sized = size_slate(best.drop("edge"), bankroll, policy)
        return Decision(sides, sized.filter(pl.col("stake") > 0.0))


# The columns size_slate adds to a slate (all floats but the reason).
_SIZED: dict[str, pl.DataType] = {
    **{c: pl.Float64() for c in ("decimal_odds", "edge", "kelly", "kelly_slate", "fraction", "stake")},
    "reason": pl.String(),
}


def _no_bets(candidates: pl.DataFrame) -> pl.DataFrame:
    """No bets, with the columns of sized ones."""
    return pl.DataFrame(schema={**candidates.drop("edge").schema, **_SIZED})


# ----------------------------------------------------------------------------------------------
# betting the open toward the predicted close

# A move model's offers as :func:`predicted_close` reads them: the offered quote and, per offer,
# the predicted move of side a (logit) and the game's reference open it is added to.
MOVE_COLUMNS: dict[str, pl.DataType] = {
    "move": pl.Float64(),  # predicted logit(close) - logit(open) of side a, at the offer's line
    "open_logit": pl.Float64(),  # logit of side a's de-vigged reference opening probability
    "open_line": pl.Float64(),  # the line that reference open is for (null: the moneyline)
}


def predicted_close(offers: pl.DataFrame) -> pl.DataFrame:
    """Offers priced for :class:`CloseRule`: ``p_a``, the predicted closing probability of side a
    (the game's reference open moved by the predicted move: ``sigmoid(open_logit + move)``), and
    ``p_open_a``, that reference open (``sigmoid(open_logit)``: the price the move is predicted from).

    ``offers``: the offer columns (``game_id, market, book, line, price_a, price_b, fair_a`` and
    optionally ``observed_at, as_of``) with :data:`MOVE_COLUMNS`. The predicted close prices one
    event: an offer at another line than the reference open's (a total of 9 against an opening 8.5)
    gets no ``p_a``, and neither does one without a move or a reference. Every offer of a game
    shares its reference: a side is bet where the close is predicted to move toward it from the
    open, at whichever book's price still has a positive expected closing-line value.
    """
    same_event = pl.col("line").eq_missing(pl.col("open_line"))
    z = pl.col("open_logit") + pl.col("move")
    opened = pl.col("open_logit")
    return offers.with_columns(
        p_a=pl.when(same_event & z.is_finite()).then(1.0 / (1.0 + (-z).exp())),
        p_open_a=pl.when(same_event & opened.is_finite()).then(1.0 / (1.0 + (-opened).exp())),
    ).drop(*MOVE_COLUMNS)


@dataclass(frozen=True)
class CloseRule:
    """Bet the OPENING price of a side where the predicted close is better for it than the open.

    ``priced``: the offers at the open as for :class:`BetRule` (``game_id, market, book, line,
    price_a, price_b``) with ``p_a`` the **predicted closing** probability of side a and
    ``p_open_a`` the de-vigged opening probability it is predicted from (:func:`predicted_close`).
    A side is a candidate where its predicted close exceeds the open by more than ``margin`` on
    the logit scale (the market is expected to move toward it); it is then sized by the staking
    policy (Kelly with the predicted close as its probability, capped) exactly as :class:`BetRule`
    sizes, so only a price with a positive expected closing-line value -- its ``edge``: predicted
    close x decimal odds - 1 -- is staked (at most ``max_edge`` when given: the probability is
    lowered to match, after the margin is checked).
    ``gates`` (:func:`mlbedge.skill.close_gate`, per market): a market whose gate failed is not
    priced; an open one bets the predicted close as it is.
    """

    margin: float = DEFAULT_CLOSE_MARGIN
    policy: StakingPolicy = field(default_factory=StakingPolicy)
    gates: Mapping[str, Gate] = field(default_factory=dict)
    max_edge: float | None = None

    def candidates(self, priced: pl.DataFrame) -> pl.DataFrame:
        """Both sides of every offer (as :meth:`BetRule.candidates`), keeping those the predicted
        close favours over the open by more than ``margin``; edges then capped at ``max_edge``."""
        closed = [m for m, g in self.gates.items() if not g.passed]
        if closed:
            priced = priced.filter(~pl.col("market").is_in(closed))
        sides = BetRule(self.policy).candidates(priced)
        if sides.is_empty():
            return sides
        opens = priced.select(
            "game_id", "market", "book", pl.col("p_open_a").cast(pl.Float64).clip(P_CLIP, 1.0 - P_CLIP)
        ).unique(["game_id", "market", "book"], keep="first")
        side_a = pl.col("market").replace_strict(SIDE_A, return_dtype=pl.String)
        joined = sides.join(opens, on=["game_id", "market", "book"], how="left")
        p_open = (
            pl.when(pl.col("side") == side_a).then(pl.col("p_open_a")).otherwise(1.0 - pl.col("p_open_a"))
        )
        p_close = pl.col("probability")
        move = (p_close / (1.0 - p_close)).log() - (p_open / (1.0 - p_open)).log()
        return cap_edges(joined.filter(move > self.margin).drop("p_open_a"), self.max_edge)

    def decide(self, priced: pl.DataFrame, bankroll: float, *, pending_stake: float = 0.0) -> Decision:
        """The slate's bets at the open (same sizing and caps as :meth:`BetRule.decide`)."""
        sides = self.candidates(priced)
        limit = exposure_limit(self.policy.max_exposure, bankroll, pending_stake)
        if sides.is_empty() or limit is None:
            return Decision(sides, _no_bets(sides))
        best = BetRule.best_prices(sides)
        policy = self.policy.model_copy(update={"max_exposure": limit}) if pending_stake else self.policy
        sized = size_slate(best.drop("edge"), bankroll, policy)
        return Decision(sides, sized.filter(pl.col("stake") > 0.0))
