"""The bet ledger: record the bets placed and read them back (behind the ledger's API key)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from mlbedge.betting import ledger
from mlbedge.serving.dependencies import ServingState, get_state, require_bets_key
from mlbedge.serving.responses import VALIDATION_DOCS, error_docs, json_response
from mlbedge.serving.schemas import ErrorResponse

router = APIRouter(tags=["bets"], dependencies=[Depends(require_bets_key)])
_KEY_DOCS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No X-API-Key header was sent."},
    403: {"model": ErrorResponse, "description": "The key is wrong, or the ledger is disabled (no key set)."},
}
_REFUSED_DOCS: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorResponse,
        "description": "The bet is refused: unknown game, a line never offered, or already recorded.",
    }
}


class LedgerBet(BaseModel):
    """A recorded bet, settled or not."""

    bet_id: int
    game_id: str
    date: dt.date | None = Field(description="The game's local date.")
    away_team: str | None
    home_team: str | None
    market: str
    side: str
    line: float | None = Field(description="The line of the side bet on, as offered (none: moneyline).")
    bet: str = Field(description="The side and its line in words, e.g. 'away +1.5'.")
    odds: int
    stake: float
    book: str
    placed_at: dt.datetime
    recorded_at: dt.datetime
    source: str
    result: Literal["win", "loss", "push", "void"] | None = Field(description="None while open.")
    profit: float | None
    settled_at: dt.datetime | None
    close_book: str | None = Field(description="Whose close the bet was measured against.")
    close_probability: float | None = Field(description="De-vigged closing probability of the side bet on.")
    clv: float | None = Field(description="Expected profit per unit at the close's probability.")


class LedgerResponse(BaseModel):
    """The ledger's bets and its verdict."""

    verdict: str
    bets: list[LedgerBet]


def _bet(row: dict[str, object]) -> LedgerBet:
    return LedgerBet.model_validate(
        {**row, "bet": ledger.format_line(str(row["market"]), str(row["side"]), row["line"])}  # type: ignore[arg-type]
    )


@router.post(
    "/v1/bets",
    response_model=LedgerBet,
    status_code=201,
    summary="Record a bet placed",
    responses={**VALIDATION_DOCS, **_KEY_DOCS, **_REFUSED_DOCS, **error_docs(400, 429, 503)},
)
def add_bet(bet: ledger.BetIn, state: ServingState = Depends(get_state)) -> Response:
    """Record a bet. 409 with the reason when the game is unknown, the line was never offered
    for it, or the same bet is already recorded."""
    with state.connection() as conn:
        try:
            row = ledger.add_bet(conn, bet, source="api")
        except ledger.BetRefusedError as exc:
            raise HTTPException(status_code=409, detail=f"bet refused: {exc}") from exc
    return json_response(_bet(row), status_code=201)


@router.get(
    "/v1/bets",
    response_model=LedgerResponse,
    summary="The bets recorded",
    responses={**VALIDATION_DOCS, **_KEY_DOCS, **error_docs(429, 503)},
)
def list_bets(
    status: Annotated[Literal["all", "open", "settled"], Query(description="All, open or settled.")] = "all",
    state: ServingState = Depends(get_state),
) -> Response:
    """The bets recorded, oldest first, with the one-line verdict of the settled ones."""
    with state.connection() as conn:
        bets = ledger.list_bets(conn, status=status)
        everything = bets if status == "all" else ledger.list_bets(conn)
    verdict = ledger.ledger_report(everything, n_resamples=500).verdict()
    return json_response(LedgerResponse(verdict=verdict, bets=[_bet(r) for r in bets.iter_rows(named=True)]))
