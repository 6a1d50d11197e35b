"""The API's request and response models (Pydantic v2): what the OpenAPI schema documents.

Every field a client sends is validated here, so a malformed id, date, bankroll or batch is a 422
naming the field before any handler runs. Responses are documented completely (errors included):
the schemathesis test checks every answer against this schema.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mlbedge.skill import Gate

# ``YYYYMMDD-AWY-HOM-N``: the local date, the MLB abbreviations of the away and home team, and the
# game number (0 single game, 1/2 doubleheader). Anything else is malformed (422), never a lookup.
GAME_ID_PATTERN = r"^[0-9]{8}-[A-Z]{2,3}-[A-Z]{2,3}-[0-2]$"
GameId = Annotated[
    str,
    StringConstraints(pattern=GAME_ID_PATTERN, min_length=14, max_length=18),
]
# The examples of the documentation (a real game of the 2016 season, its date).
EXAMPLE_GAME_ID = "20160802-LAD-COL-0"
EXAMPLE_DATE = "2016-08-02"

Market = Literal["moneyline", "total", "runline"]
Side = Literal["home", "away", "over", "under"]


class _Out(BaseModel):
    """Responses: plain data, no extra keys."""

    model_config = ConfigDict(extra="forbid")


class ErrorResponse(_Out):
    """Every error the API chooses to answer (4xx and 503): one sentence naming what and where."""

    detail: str = Field(description="What went wrong, naming the id, field or component.")


class ValidationIssue(_Out):
    """One invalid field of a request."""

    loc: list[str | int] = Field(description='Where: ``["query", "bankroll"]``, ``["body", "game_ids", 3]``.')
    msg: str
    type: str


class ValidationErrorResponse(_Out):
    """422: the request's fields that are invalid, each named."""

    detail: list[ValidationIssue]


# ----------------------------------------------------------------------------------------------
# health


class Health(_Out):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"
    version: str


class Check(_Out):
    """One dependency's state."""

    ok: bool
    detail: str = ""
    latency_ms: float | None = None


class Readiness(_Out):
    """Whether the API can serve predictions, and what is missing when not."""

    ready: bool
    missing: list[Literal["postgresql", "redis", "model", "online_store"]] = Field(
        description="Components that are down. Redis down with the PostgreSQL fallback on still serves "
        "(degraded), so ``ready`` may be true with redis listed; ``online_store``: Redis answers but is "
        "empty or stale (games PostgreSQL has are missing), served from PostgreSQL while it refills."
    )
    degraded: bool = Field(description="Features would come from the PostgreSQL fallback right now.")
    checks: dict[str, Check]


# ----------------------------------------------------------------------------------------------
# games


class GameOut(_Out):
    """One scheduled game."""

    game_id: str
    date: date
    game_type: str = Field(description="R regular season, P postseason.")
    home_team: str
    away_team: str
    home_team_id: int
    away_team_id: int
    start_time_utc: datetime | None = Field(description="Scheduled first pitch, when a source knows it.")
    start_time_local: datetime | None = Field(
        default=None, description="The same first pitch in the home park's time zone (its UTC offset)."
    )
    as_of: datetime = Field(
        description="The cutoff: features and prices use only facts observed at or before it."
    )
    game_pk: int | None = Field(default=None, description="MLB Stats API gamePk (live games).")
    status: str = Field(
        default="Scheduled",
        description="MLB's detailed state for a live game (Scheduled, Pre-Game, In Progress, Final, "
        "Postponed, ...); Final or Scheduled for a historical one.",
    )
    home_starter: str | None = Field(default=None, description="Probable (or actual) home starting pitcher.")
    away_starter: str | None = Field(default=None, description="Probable (or actual) away starting pitcher.")


class GamesResponse(_Out):
    """The games of one date."""

    date: date
    games: list[GameOut]


# ----------------------------------------------------------------------------------------------
# predictions


class SidePrediction(_Out):
    """One side of a market: the model's probability, the market's, and the edge between them."""

    side: Side
    probability: float = Field(ge=0.0, le=1.0, description="The model's calibrated probability.")
    market_probability: float | None = Field(
        ge=0.0, le=1.0, description="The market's de-vigged probability at as_of (null: not priced)."
    )
    edge: float | None = Field(
        description="Expected profit per unit staked at the market's fair (de-vigged) price: "
        "probability / market_probability - 1."
    )


class ModelRef(_Out):
    """Which registered model answered."""

    name: str
    version: str
    feature_set_version: str = Field(description="The feature set the model was trained on.")


class MarketPrediction(_Out):
    """One market of one game."""

    market: Market
    line: float | None = Field(
        description="The total (total) or the home handicap (runline) predicted for; null for moneyline."
    )
    model: ModelRef
    sides: list[SidePrediction]


class Prediction(_Out):
    """The model's view of one game, beside the market's at the cutoff."""

    game_id: str
    date: date
    as_of: datetime
    feature_set_version: str = Field(description="The feature set of the served feature row.")
    feature_completeness: float = Field(
        ge=0.0, le=1.0, description="Share of the row's features that are known (not null)."
    )
    degraded: bool = Field(
        description="The features came from the PostgreSQL fallback (Redis unreachable, or missing the game)."
    )
    features_source: Literal["online_store", "postgres"] = Field(
        "online_store", description="Where the game's features were read: the online store or PostgreSQL."
    )
    markets: list[MarketPrediction]
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Markets not predicted, with the reason (e.g. no champion model)."
    )


class BatchPredictionResponse(_Out):
    """One prediction per requested id that is known, in request order; unknown ids listed apart."""

    predictions: list[Prediction]
    not_found: list[str] = Field(description="Requested ids with no features in the store.")
    degraded: bool


# ----------------------------------------------------------------------------------------------
# recommendations


class Bet(_Out):
    """One recommended bet: a side at a price offered at the cutoff, with its Kelly stake."""

    game_id: str
    market: Market
    side: Side
    book: str = Field(description="The book offering the price (``sbro`` = SBRO's opening line).")
    line: float | None = Field(
        description="The line of the side bet on, as offered: the total, or this side's own handicap "
        "(an away run line is minus the home one: ATL +1.5); null for a moneyline."
    )
    bet: str = Field(
        description="The bet in words: team or side, its own line and the price, e.g. 'ATL +1.5 -131'."
    )
    odds: int = Field(description="American odds offered at as_of.")
    probability: float = Field(ge=0.0, le=1.0, description="The model's probability of the side.")
    edge: float = Field(description="Expected profit per unit staked at these odds: p * decimal - 1.")
    kelly: float = Field(description="Full Kelly fraction of this bet alone.")
    fraction: float = Field(ge=0.0, le=1.0, description="Stake over the bankroll.")
    stake: float = Field(gt=0.0)
    as_of: datetime
    observed_at: datetime = Field(description="When the offered price was observed (<= as_of).")


class StakingLimits(_Out):
    """The policy the stakes were sized under (fractions of the bankroll)."""

    kelly_fraction: float
    min_edge: float
    max_stake_per_bet: float
    max_stake_per_game: float
    max_exposure: float
    stake_unit: float


class MarketGate(_Out):
    """The skill gate of a served market: may it bet, and why (judged on the champion's
    out-of-sample record on its training seasons against the price it bets into)."""

    passed: bool
    reason: str
    seasons: list[int] = Field(default_factory=list)
    difference: float | None = Field(description="Mean log loss, model minus market (negative: better).")
    ci: list[float] | None = Field(description="95% bootstrap interval of the difference.")
    n_games: int = Field(default=0, description="Out-of-sample games the record holds.")
    weight: float = Field(
        default=1.0,
        description="The model's share, on the logit scale, of the probability bet on (the rest: the price).",
    )
    measure: Literal["log_loss", "clv"] = Field(
        default="log_loss",
        description="What difference measures: log_loss (model minus market, negative is better) or, for "
        "the close strategy's move models, clv (mean closing-line value per out-of-sample bet at the "
        "open, positive is better; n_games counts those bets).",
    )

    def as_gate(self, market: str) -> Gate:
        """The gate the betting rule applies."""
        ci = (self.ci[0], self.ci[1]) if self.ci and len(self.ci) == 2 else None
        return Gate(
            market, self.passed, self.reason, self.seasons, self.difference, ci, self.n_games, self.weight,
            measure=self.measure,
        )  # fmt: skip


class RecommendationsResponse(_Out):
    """The bets for one date's slate, sized together (simultaneous Kelly) within the limits."""

    date: date
    strategy: Literal["outcome", "close"] = Field(
        default="outcome",
        description="outcome: the market models at the prices of each game's cutoff; close: the move "
        "models at the prices in force at the start of each game's local date, where the predicted "
        "close beats the price by more than the margin (edge = expected closing-line value).",
    )
    bankroll: float
    limits: StakingLimits
    games: int = Field(description="Games of the date with features in the store.")
    candidates: int = Field(description="Sides priced at the cutoff that the models could bet on.")
    bets: list[Bet]
    total_stake: float
    exposure: float = Field(ge=0.0, le=1.0, description="total_stake / bankroll.")
    degraded: bool
    unavailable: dict[str, str] = Field(default_factory=dict)
    gates: dict[str, MarketGate] = Field(
        default_factory=dict,
        description="Per served market its skill gate; a market whose gate failed places no bet.",
    )
    gates_applied: bool = Field(
        default=True,
        description="Whether the gates decided the bets (false: switched off, every market bets).",
    )


# ----------------------------------------------------------------------------------------------
# models


class ModelVersionInfo(_Out):
    """One registered version with its evaluation numbers."""

    name: str
    version: str
    aliases: list[str]
    feature_set_version: str
    train_start: str
    train_end: str
    metrics: dict[str, float] = Field(description="The training run's evaluation numbers (out of fold).")


class TargetModels(_Out):
    """Champion and challenger of one target, and the version this process serves."""

    target: Market
    champion: ModelVersionInfo | None
    challenger: ModelVersionInfo | None
    serving: ModelVersionInfo | None = Field(description="The version loaded in this process.")
    serving_source: Literal["registry", "disk_cache"] | None = None


class ModelsResponse(_Out):
    """Every served target's models."""

    registry_reachable: bool
    targets: list[TargetModels]


class ReloadChange(_Out):
    """What a reload did to one target."""

    target: Market
    before: str | None = Field(description="The version served before (null: none).")
    after: str | None
    changed: bool


class ReloadResponse(_Out):
    """The champions now served."""

    changes: list[ReloadChange]
    unavailable: dict[str, str]
    seconds: float
    close_models: dict[str, str] = Field(
        default_factory=dict,
        description="The move models (close strategy): per target the version now served, or why none is.",
    )


# ----------------------------------------------------------------------------------------------
# the predicted close


class CloseSide(_Out):
    """One side at the open: its price, the market's de-vigged probability then, the predicted close."""

    side: Side
    odds: int | None = Field(description="The opening price (American odds; SBRO's opening line).")
    open_probability: float | None = Field(ge=0.0, le=1.0, description="De-vigged opening probability.")
    predicted_close: float | None = Field(
        ge=0.0, le=1.0, description="The predicted de-vigged closing probability (null: not predicted)."
    )
    expected_clv: float | None = Field(
        description="Expected closing-line value of betting this side at the opening price: "
        "predicted_close x decimal odds - 1 (null: not predicted)."
    )


class MarketClose(_Out):
    """One market of one game at the open: where the move model expects the close."""

    market: Literal["moneyline", "total"]
    line: float | None = Field(description="The opening total (total); null for the moneyline.")
    model: ModelRef | None = Field(description="The move model that predicted (null: none served).")
    predicted_move: float | None = Field(
        description="logit(predicted close) - logit(open) of the home side or the over (null: not predicted)."
    )
    sides: list[CloseSide]
    reason: str | None = Field(default=None, description="Why nothing was predicted, when nothing was.")


class GameClose(_Out):
    """One game's predicted close."""

    game_id: str
    date: date
    open_as_of: datetime = Field(description="The open: the start of the game's local date.")
    features_as_of: datetime | None = Field(
        description="The cutoff of the served feature row read (later than open_as_of where the start is known)."
    )
    markets: list[MarketClose]


class CloseResponse(_Out):
    """Per game of a date, the predicted close of each market and the expected CLV of each side at the open."""

    date: date
    margin: float = Field(
        description="The close strategy's margin (logit) a predicted move must clear to bet."
    )
    games: list[GameClose]
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Markets without a served move model, with the reason."
    )
    gates: dict[str, MarketGate] = Field(
        default_factory=dict,
        description="Per market the close strategy's gate (CLV of its out-of-sample bets).",
    )


class BatchPredictionRequestBase(BaseModel):
    """Shared config of the batch request (its size bound is set per app from the settings)."""

    model_config = ConfigDict(extra="forbid")


def batch_request_model(max_items: int) -> type[BaseModel]:
    """The ``POST /v1/predictions`` body with ``game_ids`` bounded by ``max_items`` (from settings)."""

    class BatchPredictionRequest(BatchPredictionRequestBase):
        """Up to ``max_items`` game ids."""

        game_ids: list[GameId] = Field(
            min_length=1,
            max_length=max_items,
            description=f"1 to {max_items} game ids.",
            examples=[[EXAMPLE_GAME_ID, "20160802-NYY-NYM-0"]],
        )

    return BatchPredictionRequest
