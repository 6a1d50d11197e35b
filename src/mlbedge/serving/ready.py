"""Ready answers: each game's prediction serialized once per served model set and feature slate,
kept in Redis beside the features, and served as bytes.

A game's answer depends on two things only: its feature row (one version of its date's slate,
named by the slate's token) and the served model set. So the JSON the prediction routes would
build is built once -- when the API starts or reloads (every slate in the store, newest first),
by the daily pipeline right after it materializes and predicts a date, and by any request that
found none (a new slate, an expired answer) -- and kept under

    {P:D}:T:ready:K:<game id>      b"<markets, comma-separated>\\n<the answer's JSON>"

(:meth:`mlbedge.store.redis_store.Keys.derived`: the date's slot, beside the game's blob, with the
store's TTL), where ``T`` is the token the row was read under and ``K`` the answer key of the model
set (:func:`answer_key`: each target's registered name, version and model content, what is
unavailable and why, the answer format and the package version).

A request (:mod:`mlbedge.serving.fast`) reads the served set once, then in ONE round trip to Redis
counts itself against the rate limit, reads the current slate entries of its games' dates and the
answers under K and the tokens this process last saw. An answer is used only when its slate entry
is still the one read before: a re-materialized slate is never answered from older features. And
every answer of one response carries the same K: one model set per response, whatever reload
happens meanwhile. Anything else is answered by the FastAPI routes as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import mlbedge
from mlbedge.serving.answers import to_predictions
from mlbedge.serving.models import ModelSet
from mlbedge.serving.predict import predict_rows
from mlbedge.serving.ratelimit import Decision, RateLimiter
from mlbedge.serving.schemas import Prediction
from mlbedge.store.base import FeatureRow, StoreError
from mlbedge.store.redis_store import REDIS_ERRORS, RedisStore

log = logging.getLogger(__name__)

KIND = "ready"
# The shape of a kept answer (bump when the bytes of an answer change for the same inputs).
FORMAT = "1"
# How long one process holds a slate it is warming before another may take it over.
_CLAIM_MS = 120_000


def answer_key(models: ModelSet) -> str:
    """The key of ``models``'s answers: the same for every process serving the same champions.

    Each model counts by its registered name and version and by its content (the booster, the
    calibrator, the inputs): a registry rebuilt from scratch that numbers another model version 1
    gets answers of its own."""
    digest = hashlib.sha256(json.dumps([FORMAT, mlbedge.__version__]).encode())
    for target, loaded in sorted(models.models.items()):
        model = loaded.model
        digest.update(json.dumps([target, loaded.name, loaded.version, loaded.feature_set_version]).encode())
        digest.update(model.booster.model_to_string().encode())
        digest.update(
            json.dumps(
                [model.calibrator.to_dict(), model.feature_names, model.market_index, model.init_fallback],
                default=str,
            ).encode()
        )
    digest.update(json.dumps(sorted(models.unavailable.items())).encode())
    return digest.hexdigest()[:16]


def encode(prediction: Prediction) -> bytes:
    """A kept answer: the markets it predicts (for the prediction counter), then its JSON."""
    markets = ",".join(m.market for m in prediction.markets).encode()
    return markets + b"\n" + prediction.__pydantic_serializer__.to_json(prediction)


@dataclass(frozen=True)
class Hit:
    """The ready answers of one request's games (each distinct id once)."""

    bodies: dict[str, bytes]
    markets: dict[str, tuple[str, ...]]


class ReadyAnswers:
    """Reads and keeps ready answers beside a :class:`RedisStore`'s slates (see the module notes).

    ``limiter`` counts each request in the same round trip as the read (its Redis is the store's).
    """

    def __init__(self, store: RedisStore, limiter: RateLimiter) -> None:
        self.store = store
        self.limiter = limiter
        self._last: tuple[ModelSet, str] | None = None
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    def warm_in_background(self, models: ModelSet) -> None:
        """:meth:`warm` in a thread of its own (stopped and awaited by :meth:`close`)."""
        if self._closing.is_set():
            return
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=self.warm, args=(models,), name="ready-answers", daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop warming: each warming thread ends after the slate it is on, awaited at most
        ``timeout`` seconds in all, so the store's client is never closed under a thread writing."""
        self._closing.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def key(self, models: ModelSet) -> str:
        """:func:`answer_key` of ``models`` (computed once per served set)."""
        last = self._last
        if last is not None and last[0] is models:
            return last[1]
        key = answer_key(models)
        self._last = (models, key)
        return key

    async def lookup(
        self, client: str, game_ids: Sequence[str], key: str
    ) -> tuple[Decision | None, Hit | None]:
        """``client``'s rate-limit decision and the answers of ``game_ids`` under ``key``, in one
        round trip: ``(decision, hit)``, ``hit`` None unless every game has a current answer;
        ``(None, None)`` when a game is not known to this process or Redis did not answer (the
        slow way then counts the request itself)."""
        ids = list(dict.fromkeys(game_ids))
        expected: dict[str, bytes] = {}
        keys = []
        for game_id in ids:
            where = self.store.located(game_id)
            if where is None:
                return None, None
            iso, entry, token = where
            expected[iso] = entry
            keys.append(self.store.keys.derived(iso, token, KIND, key, game_id))
        days = list(expected)
        answered = await self.limiter.check_and_read(client, self.store.keys.slates, days, keys)
        if answered is None:
            return None, None
        decision, entries, values = answered
        if not decision.allowed:
            return decision, None
        if any(entry != expected[iso] for iso, entry in zip(days, entries, strict=True)):
            return decision, None  # a slate switched since this process last read it
        bodies: dict[str, bytes] = {}
        markets: dict[str, tuple[str, ...]] = {}
        for game_id, value in zip(ids, values, strict=True):
            if value is None:
                return decision, None
            head, _, body = value.partition(b"\n")
            bodies[game_id] = body
            markets[game_id] = tuple(head.decode().split(",")) if head else ()
        return decision, Hit(bodies, markets)

    def remember(
        self, models: ModelSet, rows: Sequence[FeatureRow], predictions: Sequence[Prediction]
    ) -> int:
        """Keep the answers of ``rows`` (``predictions``, one per row, as the routes built them)
        that were read from the online store; returns how many. Never raises."""
        key = self.key(models)
        pipe = self.store.client.pipeline(transaction=False)
        kept = 0
        for row, prediction in zip(rows, predictions, strict=True):
            if row.token is None or prediction.degraded or prediction.game_id != row.game_id:
                continue
            pipe.set(
                self.store.keys.derived(row.date.isoformat(), row.token, KIND, key, row.game_id),
                encode(prediction),
                px=self.store.ttl_ms,
            )
            kept += 1
        if not kept:
            return 0
        try:
            pipe.execute()
        except REDIS_ERRORS as exc:
            log.warning("ready answers not kept: %s", exc)
            return 0
        return kept

    def warm(self, models: ModelSet, days: Sequence[date] | None = None) -> int:
        """Build and keep the answers of every slate in the store (or of ``days``), newest first;
        a slate another process is warming is left to it. Returns the answers kept. Never raises."""
        if not models.models or self._closing.is_set():
            return 0
        key = self.key(models)
        kept = 0
        try:
            stored = self.store.learn_slates()  # this process knows where every stored game is
            todo = stored[::-1] if days is None else list(days)
            for day in todo:
                if self._closing.is_set():
                    break
                read = self.store.read_slate(day)
                token = read.rows[0].token if read.rows else None
                if token is None:
                    continue
                iso = day.isoformat()
                answers = [self.store.keys.derived(iso, token, KIND, key, r.game_id) for r in read.rows]
                if self.store.client.exists(*answers) == len(answers):
                    continue  # ready already (an earlier start, another process)
                claim = self.store.keys.derived(iso, token, KIND, key, "_warming")
                if not self.store.client.set(claim, b"1", nx=True, px=_CLAIM_MS):
                    continue  # another process is on it
                predictions = to_predictions(predict_rows(models, read.rows), read.degraded, read)
                kept += self.remember(models, read.rows, predictions)
        except (StoreError, *REDIS_ERRORS) as exc:
            log.warning("warming ready answers stopped: %s", exc)
        log.info("ready answers warmed: %d games", kept)
        return kept
