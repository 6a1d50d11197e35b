"""Reloading the champions, in one API process or in all of them.

:func:`reload_champions` is what ``POST /v1/admin/reload`` does: load the registry's champions and
swap them in (:meth:`ModelHolder.reload`: requests in flight finish on the set they started with),
update the metrics, and warm the new set's ready answers in the background.

Several processes serve one port (``serve_workers``): the reload request reaches one of them.
That one then writes a new stamp under ``{P}:serving:reload`` in Redis
(:class:`~mlbedge.serving.models.ReloadSignal`);
every process checks the stamp every ``serve_reload_poll_seconds`` (:func:`follow_reloads`) and,
seeing one it has not loaded, reloads from the registry itself. Until it has, it serves the set it
had: every response still comes from one model set.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from mlbedge.serving.dependencies import ServingState
from mlbedge.serving.models import ModelSet, RegistryUnavailableError

log = logging.getLogger(__name__)


def warm_in_background(state: ServingState, models: ModelSet) -> None:
    """Build ``models``'s ready answers of every slate in a thread of their own."""
    if state.ready is not None and models.models:
        state.ready.warm_in_background(models)


def reload_champions(state: ServingState, *, announce: bool) -> tuple[ModelSet, ModelSet]:
    """Load the registry's champions and serve them (raises :class:`RegistryUnavailableError`,
    counted, with the served set unchanged); with ``announce`` the other processes follow."""
    try:
        before, after = state.models.reload()
    except RegistryUnavailableError:
        state.metrics.reloads.labels("registry_unavailable").inc()
        raise
    state.metrics.reloads.labels("ok").inc()
    state.metrics.record_models(after, state.targets)
    state.forget_models_cache()
    warm_in_background(state, after)
    if announce and state.reloads is not None:
        state.reloads.publish()
    return before, after


async def follow_reloads(state: ServingState) -> None:
    """Reload whenever another process announces a reload (runs until cancelled)."""
    signal = state.reloads
    if signal is None:
        return
    signal.seen = await run_in_threadpool(signal.read)
    while True:
        await asyncio.sleep(state.settings.serve_reload_poll_seconds)
        stamp = await run_in_threadpool(signal.read)
        if stamp is None or stamp == signal.seen:
            continue
        try:
            await run_in_threadpool(reload_champions, state, announce=False)
        except RegistryUnavailableError as exc:
            log.warning("another API process reloaded the models; this one could not yet: %s", exc)
            continue
        # The move models follow too, as the admin route reloads them beside the champions.
        await run_in_threadpool(state.reload_close_models)
        signal.seen = stamp
        log.info("models reloaded after another API process did")
