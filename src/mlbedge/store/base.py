"""The online store's contract: what every backend takes, returns and promises.

A backend holds one *slate* per date (the games of that date, each game's features in registry
order) and serves them by game or by date. Writes replace whole slates and become visible all at
once: a reader sees either every game of a slate from the old write or every game from the new
one, never a mix. Reads never raise for a missing game; they list it in ``missing``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import polars as pl

Value = float | int | None


class StoreError(RuntimeError):
    """The online store refused or could not complete an operation (the message says which and where)."""


class StoreUnavailableError(StoreError):
    """The store's server cannot be reached (connection refused, timed out, reset)."""


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """One game's features as served: identity, cutoff, feature set, and values in ``names`` order.

    ``token``: the slate version the row was read from (the online store's), None for a row read
    from elsewhere (PostgreSQL): what is derived from the row may be kept under that version.
    """

    game_id: str
    date: date
    as_of: datetime
    feature_set_version: str
    names: tuple[str, ...]
    values: tuple[Value, ...]
    token: str | None = None

    def __getitem__(self, name: str) -> Value:
        try:
            return self.values[self.names.index(name)]
        except ValueError:
            raise KeyError(f"game {self.game_id}: no feature named {name!r}") from None

    def as_dict(self) -> dict[str, Value]:
        """``{feature name: value}`` in registry order."""
        return dict(zip(self.names, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What a read returns: the rows found (in the order asked), the ids not found, and where from.

    ``degraded`` is true when any row came from PostgreSQL: Redis could not be reached (then
    ``backend`` is ``postgres``), or Redis answered without these games (an empty or partly
    lost store; their ids are in ``from_fallback``). The API reports it per game so a caller
    knows the fast path did not serve it.
    """

    rows: list[FeatureRow]
    missing: list[str] = field(default_factory=list)
    degraded: bool = False
    backend: str = "redis"
    from_fallback: frozenset[str] = frozenset()

    def source_of(self, game_id: str) -> str:
        """``postgres`` when this game's row came from PostgreSQL, else ``online_store``."""
        if self.backend == "postgres" or game_id in self.from_fallback:
            return "postgres"
        return "online_store"

    def __iter__(self) -> Iterator[FeatureRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def by_id(self) -> dict[str, FeatureRow]:
        """The rows keyed by game id."""
        return {r.game_id: r for r in self.rows}


@dataclass(frozen=True, slots=True)
class WriteReport:
    """What one ``write_batch`` did: games and slates written, which slates switched version."""

    feature_set_version: str
    games: int
    dates: int
    switched: list[date]
    unchanged: list[date]
    seconds: float


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """A health probe's answer: reachable or not, how fast, and what answered."""

    ok: bool
    backend: str
    latency_ms: float | None
    degraded: bool = False
    detail: str = ""


@runtime_checkable
class OnlineStore(Protocol):
    """Every online-store backend: write whole slates, read by game or by date, delete, probe."""

    def write_batch(self, feature_set_version: str, rows: pl.DataFrame) -> WriteReport:
        """Write ``rows`` (``game_id, date, as_of`` and every registry feature) as the new version of
        the slates of their dates; each slate switches at once when it is completely written."""
        ...

    def read(self, game_ids: Sequence[str]) -> ReadResult:
        """The current rows of these games (unknown ids in ``missing``)."""
        ...

    def read_slate(self, day: date) -> ReadResult:
        """Every game of one date, in game id order."""
        ...

    def delete(self, game_ids: Sequence[str]) -> int:
        """Remove these games from their slates; returns how many were there."""
        ...

    def health(self) -> StoreHealth:
        """Whether the store answers, and its round-trip latency."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
