"""The models the API serves: each target's champion, loaded once, cached on disk, swapped atomically.

:class:`ModelHolder` keeps one immutable :class:`ModelSet` (a champion per target). A request reads
:attr:`ModelHolder.current` once and uses that set to the end, so a reload that swaps in a new set
(one reference assignment) never changes the models under a request in flight, and never mixes
old and new models within one answer.

Where models come from:

- **the MLflow registry** (:mod:`mlbedge.training.registry`): the version holding the ``champion``
  alias of ``<prefix>-<target>``, loaded as a :class:`~mlbedge.training.artifact.ServingModel`
  (plain numpy predictor, no pyfunc). Each loaded version is also saved under
  ``MLBEDGE_HOME/serving/models/<name>/<version>/`` with a pointer file ``champions.json``;
- **the disk cache**, at startup only, when the registry cannot be reached (MLflow down): the
  champions of the last successful load, so a restart keeps serving. A reload never falls back:
  it asks the registry or fails, leaving the served set unchanged.

The registry is probed with a short timeout before any MLflow call: MLflow's own client retries a
dead server for minutes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import redis
from mlflow.exceptions import MlflowException

from mlbedge.settings import Settings
from mlbedge.store.redis_store import REDIS_ERRORS
from mlbedge.training.artifact import ServingModel
from mlbedge.training.targets import TARGET_LINE, get_target

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.intp]
POINTER_FILE = "champions.json"
CLOSE_POINTER_FILE = "close_champions.json"  # the move models' holder


class RegistryUnavailableError(RuntimeError):
    """The MLflow registry did not answer (the message names where)."""


class NoChampionError(LookupError):
    """No target has a champion model loaded: predictions cannot be served."""


@dataclass(frozen=True)
class InputPlan:
    """How to build one model's input matrix from store rows with a given feature layout.

    ``index[j]`` is the position of the model's j-th input in the row (-1: the row lacks it);
    ``line_column`` is the input that takes the target's line (None for targets without one).
    """

    index: IntArray
    absent: tuple[str, ...]
    line_column: int | None


@dataclass
class LoadedModel:
    """One target's served model: the predictor and what the API reports about it."""

    target: str
    name: str
    version: str
    model: ServingModel
    feature_set_version: str
    train_start: str = ""
    train_end: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    source: str = "registry"
    _plans: dict[tuple[str, ...], InputPlan] = field(default_factory=dict, repr=False)

    def plan(self, names: tuple[str, ...]) -> InputPlan:
        """The input plan for rows whose features are ``names`` (computed once per layout)."""
        plan = self._plans.get(names)
        if plan is None:
            position = {n: i for i, n in enumerate(names)}
            inputs = self.model.feature_names
            line_column = inputs.index(TARGET_LINE) if TARGET_LINE in inputs else None
            index = np.array([position.get(n, -1) if n != TARGET_LINE else -1 for n in inputs], dtype=np.intp)
            absent = tuple(n for n in inputs if n != TARGET_LINE and n not in position)
            if absent:
                log.warning(
                    "model %s v%s reads %d input(s) the served feature rows lack (%s...): they are null",
                    self.name,
                    self.version,
                    len(absent),
                    ", ".join(absent[:5]),
                )
            plan = InputPlan(index, absent, line_column)
            # A dict assignment is atomic: concurrent requests at worst compute the same plan twice.
            self._plans[names] = plan
        return plan

    def info(self) -> dict[str, Any]:
        """What the pointer file and ``/v1/models`` keep of this model."""
        return {
            "target": self.target,
            "name": self.name,
            "version": self.version,
            "feature_set_version": self.feature_set_version,
            "train_start": self.train_start,
            "train_end": self.train_end,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class ModelSet:
    """The champions served together; never modified after it is built."""

    models: dict[str, LoadedModel]
    unavailable: dict[str, str]
    loaded_at: datetime
    generation: int

    def require(self) -> ModelSet:
        """This set, or :class:`NoChampionError` when it holds no model at all."""
        if not self.models:
            reasons = "; ".join(f"{t}: {r}" for t, r in self.unavailable.items()) or "no target configured"
            raise NoChampionError(
                f"no champion model is loaded ({reasons}); register one (`mlbedge train`) "
                "and POST /v1/admin/reload"
            )
        return self


def evaluation_metrics(run_metrics: dict[str, float]) -> dict[str, float]:
    """A training run's evaluation numbers, without the per-feature importances."""
    return {k: float(v) for k, v in sorted(run_metrics.items()) if not k.startswith("gain.")}


class ModelHolder:
    """Loads, caches and swaps the champions of ``targets`` (see the module docstring)."""

    def __init__(self, settings: Settings, targets: Sequence[str], *, pointer: str = POINTER_FILE) -> None:
        for target in targets:
            get_target(target)  # ValueError names an unknown target
        self.settings = settings
        self.targets = list(dict.fromkeys(targets))
        self.cache_dir = settings.home / "serving"
        # Holders of other targets (the move models) keep a pointer file of their own.
        self.pointer = pointer
        self._current = ModelSet({}, {t: "not loaded yet" for t in self.targets}, datetime.now(UTC), 0)
        self._reload_lock = threading.Lock()

    @property
    def current(self) -> ModelSet:
        """The set to use for one request (read once per request)."""
        return self._current

    # ------------------------------------------------------------------------------------------
    # the registry

    def registry_reachable(self) -> bool:
        """True when the registry answers within the configured timeout (always for a local store)."""
        from mlbedge.training.registry import tracking_uri

        uri = tracking_uri(self.settings)
        if not uri.startswith(("http://", "https://")):
            return True
        try:
            response = httpx.get(
                uri.rstrip("/") + "/health", timeout=self.settings.serve_registry_timeout_seconds
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _from_registry(self, target: str, previous: LoadedModel | None) -> LoadedModel:
        """The target's champion from the registry (LookupError when it has none)."""
        from mlbedge.training import registry

        name = registry.model_name(target, self.settings)
        version = registry.champion(name, settings=self.settings)
        if version is None:
            raise LookupError(f"registered model {name!r} has no champion")
        number = str(version.version)
        if previous is not None and previous.name == name and previous.version == number:
            return previous  # versions never change: keep the loaded predictor and its plans
        model = registry.load_serving_model(name, version=number, settings=self.settings)
        tags = dict(version.tags or {})
        metrics: dict[str, float] = {}
        if version.run_id:
            run = registry.client(self.settings).get_run(version.run_id)
            metrics = evaluation_metrics(dict(run.data.metrics))
        loaded = LoadedModel(
            target=target,
            name=name,
            version=number,
            model=model,
            feature_set_version=str(
                tags.get("feature_set_version") or model.meta.get("feature_set_version", "")
            ),
            train_start=str(tags.get("train_start") or model.meta.get("train_start", "")),
            train_end=str(tags.get("train_end") or model.meta.get("train_end", "")),
            metrics=metrics,
            source="registry",
        )
        self._save(loaded)
        return loaded

    def _load_from_registry(self, current: ModelSet) -> ModelSet:
        if not self.registry_reachable():
            from mlbedge.training.registry import tracking_uri

            raise RegistryUnavailableError(
                f"MLflow registry at {tracking_uri(self.settings)} did not answer within "
                f"{self.settings.serve_registry_timeout_seconds:g} s"
            )
        # MLflow resolves ``models:/`` downloads through the process-wide registry URI, whatever
        # URI the call is given: point it at the configured store (this process serves one).
        import mlflow

        from mlbedge.training.registry import tracking_uri

        uri = tracking_uri(self.settings)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        models: dict[str, LoadedModel] = {}
        unavailable: dict[str, str] = {}
        for target in self.targets:
            try:
                models[target] = self._from_registry(target, current.models.get(target))
            except LookupError as exc:
                unavailable[target] = str(exc)
            except MlflowException as exc:
                # The registry answered the probe but failed mid-load (a restart, a network blip):
                # nothing is swapped, the caller decides (startup: disk cache; reload: 503).
                raise RegistryUnavailableError(
                    f"MLflow registry at {uri} failed loading {target}: {exc}"
                ) from exc
        self._write_pointer(models)
        return ModelSet(models, unavailable, datetime.now(UTC), current.generation + 1)

    # ------------------------------------------------------------------------------------------
    # the disk cache

    def _folder(self, name: str, version: str) -> Path:
        return self.cache_dir / "models" / name / version

    def _save(self, loaded: LoadedModel) -> None:
        folder = self._folder(loaded.name, loaded.version)
        if not (folder / "model.json").is_file():
            staging = folder.with_name(f".{loaded.version}.{os.getpid()}.tmp")
            loaded.model.save(staging)
            try:
                staging.rename(folder)
            except OSError:
                if not (folder / "model.json").is_file():
                    raise

    def _write_pointer(self, models: dict[str, LoadedModel]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "saved_at": datetime.now(UTC).isoformat(),
            "targets": {t: m.info() for t, m in models.items()},
        }
        tmp = self.cache_dir / f".{self.pointer}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, self.cache_dir / self.pointer)

    def _load_from_disk(self, reason: str) -> ModelSet:
        from mlbedge.training.registry import model_name

        pointer = self.cache_dir / self.pointer
        entries: dict[str, Any] = {}
        if pointer.is_file():
            entries = json.loads(pointer.read_text()).get("targets", {})
        models: dict[str, LoadedModel] = {}
        unavailable: dict[str, str] = {}
        for target in self.targets:
            entry = entries.get(target)
            if entry is None or entry.get("name") != model_name(target, self.settings):
                unavailable[target] = f"{reason}, and no cached champion in {pointer}"
                continue
            folder = self._folder(entry["name"], str(entry["version"]))
            try:
                model = ServingModel.load(folder)
            except (FileNotFoundError, ValueError, KeyError) as exc:
                unavailable[target] = f"{reason}; cached files unusable: {exc}"
                continue
            models[target] = LoadedModel(
                target=target,
                name=entry["name"],
                version=str(entry["version"]),
                model=model,
                feature_set_version=entry.get("feature_set_version", ""),
                train_start=entry.get("train_start", ""),
                train_end=entry.get("train_end", ""),
                metrics={k: float(v) for k, v in (entry.get("metrics") or {}).items()},
                source="disk_cache",
            )
        return ModelSet(models, unavailable, datetime.now(UTC), self._current.generation + 1)

    # ------------------------------------------------------------------------------------------
    # loading and swapping

    def load(self) -> ModelSet:
        """Startup: the champions from the registry, or from the disk cache when it is down."""
        with self._reload_lock:
            started = time.perf_counter()
            try:
                new = self._load_from_registry(self._current)
            except RegistryUnavailableError as exc:
                log.warning("%s: serving the cached champions", exc)
                new = self._load_from_disk(str(exc))
            self._current = new
            log.info(
                "models loaded in %.2f s: %s; unavailable: %s",
                time.perf_counter() - started,
                {t: f"{m.name} v{m.version} ({m.source})" for t, m in new.models.items()},
                new.unavailable or "none",
            )
            return new

    def reload(self) -> tuple[ModelSet, ModelSet]:
        """Load the registry's current champions and swap them in; returns ``(before, after)``.

        Raises :class:`RegistryUnavailableError` (the served set is then unchanged). Requests in
        flight keep the set they started with.
        """
        with self._reload_lock:
            before = self._current
            after = self._load_from_registry(before)
            self._current = after  # the swap: one reference assignment
            return before, after

    def use(self, models: ModelSet) -> None:
        """Serve ``models`` (tests and tools that built a set themselves)."""
        with self._reload_lock:
            self._current = models


class ReloadSignal:
    """The stamp of the last reload, shared by every process of one store namespace."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.key = f"{{{prefix}}}:serving:reload"
        self.seen: bytes | None = None

    def read(self) -> bytes | None:
        """The current stamp (None: none yet, or Redis did not answer)."""
        try:
            value = self.client.get(self.key)
        except REDIS_ERRORS as exc:
            log.warning("reload stamp unreadable: %s", exc)
            return None
        return value if isinstance(value, bytes) else None

    def publish(self) -> None:
        """A new stamp: every other process reloads (this one already has)."""
        stamp = uuid.uuid4().hex.encode()
        try:
            self.client.set(self.key, stamp)
        except REDIS_ERRORS as exc:
            log.warning("reload not announced to the other API processes: %s", exc)
            return
        self.seen = stamp
