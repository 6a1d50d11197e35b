"""How one game's features become bytes: a positional array in registry order, MessagePack by default.

A blob is ``[as_of (epoch microseconds), value_1, ..., value_n]`` with the values in the order of
a :class:`Layout` (the feature registry's order). Names are never repeated per blob: the layout
is stored once per store under its ``schema_id``, and each slate names the schema its blobs use,
so a reader built from another registry can still decode them by name, or refuse them clearly.

MessagePack (ormsgpack) keeps floats as float64 and ints as ints, bit for bit, and nulls as nil.
The JSON codec exists to measure MessagePack against (``make bench``); both encode the same array.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import ormsgpack
import polars as pl

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Columns every row written to a store must carry besides the features.
KEY_COLUMNS = ("game_id", "date", "as_of")


@dataclass(frozen=True)
class Layout:
    """The feature order of a blob (names with their dtypes) and its stable ``schema_id``."""

    names: tuple[str, ...]
    dtypes: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.dtypes):
            raise ValueError(f"layout: {len(self.names)} names but {len(self.dtypes)} dtypes")
        if len(set(self.names)) != len(self.names):
            raise ValueError("layout: a feature name appears twice")

    @property
    def schema_id(self) -> str:
        """A short hash of names and dtypes: equal ids mean blobs decode the same way."""
        payload = json.dumps([list(self.names), list(self.dtypes)]).encode()
        return hashlib.sha256(payload).hexdigest()[:12]

    def pack(self) -> bytes:
        """The layout as stored once per store (MessagePack ``[names, dtypes]``)."""
        return ormsgpack.packb([list(self.names), list(self.dtypes)])

    @classmethod
    def unpack(cls, blob: bytes) -> Layout:
        """The layout stored by :meth:`pack`."""
        names, dtypes = ormsgpack.unpackb(blob)
        return cls(tuple(names), tuple(dtypes))

    @classmethod
    def from_registry(cls) -> Layout:
        """The layout of the current feature registry."""
        from mlbedge.features.registry import registry

        features = tuple(registry())
        return cls(tuple(f.name for f in features), tuple(f.dtype for f in features))


class Codec(Protocol):
    """Bytes from one positional row and back."""

    name: str

    def encode(self, values: Sequence[object]) -> bytes:
        """One row (``[as_of_us, *values]``) as bytes."""
        ...

    def decode(self, blob: bytes) -> list[object]:
        """The row :meth:`encode` was given, as a list."""
        ...


class MsgpackCodec:
    """MessagePack through ormsgpack: compact, exact for float64 and ints, fast in both directions."""

    name = "msgpack"

    def encode(self, values: Sequence[object]) -> bytes:
        return ormsgpack.packb(values)

    def decode(self, blob: bytes) -> list[object]:
        return ormsgpack.unpackb(blob)


class JsonCodec:
    """Compact JSON of the same array (the benchmark's baseline; Python's float repr round-trips)."""

    name = "json"

    def encode(self, values: Sequence[object]) -> bytes:
        return json.dumps(values, separators=(",", ":")).encode()

    def decode(self, blob: bytes) -> list[object]:
        return json.loads(blob)


def missing_columns(frame: pl.DataFrame, layout: Layout) -> list[str]:
    """The key and feature columns ``frame`` lacks for ``layout``."""
    present = set(frame.columns)
    return [c for c in (*KEY_COLUMNS, *layout.names) if c not in present]


def positional_rows(frame: pl.DataFrame, layout: Layout) -> list[tuple[object, ...]]:
    """Each row as ``(as_of_us, *features)`` in layout order (the columns selected in one pass)."""
    missing = missing_columns(frame, layout)
    if missing:
        raise ValueError(f"feature rows lack columns {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    return frame.select(pl.col("as_of").dt.epoch("us"), *layout.names).rows()


def encode_frame(frame: pl.DataFrame, layout: Layout, codec: Codec) -> list[bytes]:
    """One blob per row of ``frame``.

    Serialising is one call per row by nature (each blob is its own byte string); the values
    themselves are pulled out column-wise by Polars first, so the loop only packs.
    """
    encode = codec.encode
    return [encode(row) for row in positional_rows(frame, layout)]


def as_of_from_us(micros: int) -> datetime:
    """The cutoff stored as epoch microseconds, as an aware UTC datetime (exact, no float)."""
    return EPOCH + timedelta(microseconds=micros)
