"""Admin: reload the champions from the registry without dropping a request."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response

from mlbedge.serving.dependencies import ServingState, get_state, require_admin
from mlbedge.serving.reloads import reload_champions
from mlbedge.serving.responses import error_docs, json_response
from mlbedge.serving.schemas import ReloadChange, ReloadResponse

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    summary="Load the registry's current champions",
    responses=error_docs(401, 403, 429, 503),
)
def reload_models(state: ServingState = Depends(get_state)) -> Response:
    """Load each target's current champion from the MLflow registry and swap the served set in one
    step: requests in flight finish on the models they started with (and, with several API
    processes, each of the others follows within ``serve_reload_poll_seconds``). 503 (nothing
    changed) when the registry does not answer."""
    started = time.perf_counter()
    before, after = reload_champions(state, announce=True)
    changes = []
    for target in state.targets:
        old, new = before.models.get(target), after.models.get(target)
        old_v = old.version if old is not None else None
        new_v = new.version if new is not None else None
        changed = (old is None) != (new is None) or (
            old is not None and new is not None and (old.name, old.version) != (new.name, new.version)
        )
        changes.append(ReloadChange(target=target, before=old_v, after=new_v, changed=changed))  # type: ignore[arg-type]
    # The move models reload beside them; a registry failure there leaves them as they were.
    close_models = state.reload_close_models()
    return json_response(
        ReloadResponse(
            changes=changes,
            unavailable=after.unavailable,
            seconds=time.perf_counter() - started,
            close_models=close_models,
        )
    )
