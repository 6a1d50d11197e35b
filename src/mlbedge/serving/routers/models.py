"""The registry's view: champion and challenger per target with their evaluation numbers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Response
from mlflow.exceptions import MlflowException

from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.models import LoadedModel, evaluation_metrics
from mlbedge.serving.responses import error_docs, json_response
from mlbedge.serving.schemas import ModelsResponse, ModelVersionInfo, TargetModels

log = logging.getLogger(__name__)
router = APIRouter(tags=["models"])


def _served(loaded: LoadedModel | None) -> ModelVersionInfo | None:
    if loaded is None:
        return None
    return ModelVersionInfo(
        name=loaded.name,
        version=loaded.version,
        aliases=[],
        feature_set_version=loaded.feature_set_version,
        train_start=loaded.train_start,
        train_end=loaded.train_end,
        metrics=loaded.metrics,
    )


def _version_info(state: ServingState, version: Any) -> ModelVersionInfo:
    from mlbedge.training import registry

    tags = dict(version.tags or {})
    metrics: dict[str, float] = {}
    if version.run_id:
        run = registry.client(state.settings).get_run(version.run_id)
        metrics = evaluation_metrics(dict(run.data.metrics))
    return ModelVersionInfo(
        name=version.name,
        version=str(version.version),
        aliases=sorted(version.aliases or []),
        feature_set_version=tags.get("feature_set_version", ""),
        train_start=tags.get("train_start", ""),
        train_end=tags.get("train_end", ""),
        metrics=metrics,
    )


def build_models_response(state: ServingState) -> ModelsResponse:
    """Ask the registry (when it answers) and add what this process serves."""
    from mlbedge.training import registry

    served = state.models.current
    reachable = state.models.registry_reachable()
    targets = []
    for target in state.targets:
        champion = challenger = None
        if reachable:
            name = registry.model_name(target, state.settings)
            try:
                found = registry.champion(name, settings=state.settings)
                champion = _version_info(state, found) if found is not None else None
                found = registry.champion(name, settings=state.settings, alias=registry.CHALLENGER)
                challenger = _version_info(state, found) if found is not None else None
            except MlflowException as exc:
                log.warning("registry lookup of %s failed: %s", name, exc)
                reachable = False
        loaded = served.models.get(target)
        targets.append(
            TargetModels(
                target=target,  # type: ignore[arg-type]
                champion=champion,
                challenger=challenger,
                serving=_served(loaded),
                serving_source=loaded.source if loaded is not None else None,  # type: ignore[arg-type]
            )
        )
    return ModelsResponse(registry_reachable=reachable, targets=targets)


@router.get(
    "/v1/models",
    response_model=ModelsResponse,
    summary="Champion and challenger per target",
    responses=error_docs(429),
)
def list_models(state: ServingState = Depends(get_state)) -> Response:
    """Per target: the registry's champion and challenger with their training runs' evaluation
    numbers, and the version this process serves. Answers from the served models alone while
    the registry is unreachable (``registry_reachable`` false)."""
    return json_response(state.cached_models(lambda: build_models_response(state)))
