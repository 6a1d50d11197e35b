"""The schedule: the games of one date with their cutoffs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.params import IsoDate
from mlbedge.serving.responses import VALIDATION_DOCS, error_docs, json_response
from mlbedge.serving.schemas import EXAMPLE_DATE, GameOut, GamesResponse
from mlbedge.serving.slate import game_status, games_on, local_start

router = APIRouter(tags=["games"])


@router.get(
    "/v1/games",
    response_model=GamesResponse,
    summary="The games of a date",
    responses={**VALIDATION_DOCS, **error_docs(429, 503)},
)
def list_games(
    day: Annotated[
        IsoDate, Query(alias="date", description="The local game date, YYYY-MM-DD.", examples=[EXAMPLE_DATE])
    ],
    state: ServingState = Depends(get_state),
) -> Response:
    """Every game of ``date`` (possibly none) with teams, scheduled start (UTC and the home park's
    local time), ``as_of``, and for live games the gamePk, status and probable pitchers."""
    with state.connection() as conn:
        frame = games_on(conn, day, state.settings.cutoff_minutes)
        frame = frame.join(game_status(conn, frame), on="game_id", how="left")
    games = [
        GameOut(
            game_id=r["game_id"],
            date=r["date"],
            game_type=r["game_type"],
            home_team=r["home_team"],
            away_team=r["away_team"],
            home_team_id=r["home_team_id"],
            away_team_id=r["away_team_id"],
            start_time_utc=r["start_time_utc"],
            start_time_local=local_start(r["start_time_utc"], r["home_team_id"]),
            as_of=r["as_of"],
            game_pk=r["game_pk"],
            status=r["status"],
            home_starter=r["home_starter"],
            away_starter=r["away_starter"],
        )
        for r in frame.iter_rows(named=True)
    ]
    return json_response(GamesResponse(date=day, games=games))
