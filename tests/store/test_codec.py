"""The blob codec on real feature rows: exact round trips, the layout's identity, MessagePack vs JSON."""

from __future__ import annotations

import math

import polars as pl
import pytest

from mlbedge.features.registry import registry
from mlbedge.store.codec import (
    JsonCodec,
    Layout,
    MsgpackCodec,
    as_of_from_us,
    encode_frame,
    positional_rows,
)


def _same(a: object, b: object) -> bool:
    """Equal, with the type kept (an int must come back an int, a float a float)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("codec", [MsgpackCodec(), JsonCodec()], ids=lambda c: c.name)
def test_every_real_row_round_trips_exactly(season_rows: pl.DataFrame, codec) -> None:  # type: ignore[no-untyped-def]
    layout = Layout.from_registry()
    expected = positional_rows(season_rows, layout)
    blobs = encode_frame(season_rows, layout, codec)
    assert len(blobs) == season_rows.height == len(expected)
    bad = [
        (i, j)
        for i, (blob, row) in enumerate(zip(blobs, expected, strict=True))
        for j, (got, want) in enumerate(zip(codec.decode(blob), row, strict=True))
        if not _same(got, want)
    ]
    assert bad == []
    # The rows really hold all three kinds of value the test claims to cover.
    flat = [v for row in expected for v in row[1:]]
    assert any(v is None for v in flat) and any(isinstance(v, float) for v in flat)
    assert any(isinstance(v, int) for v in flat)


def test_the_blob_holds_as_of_then_the_features_in_registry_order(season_rows: pl.DataFrame) -> None:
    layout = Layout.from_registry()
    row = season_rows.row(0, named=True)
    values = MsgpackCodec().decode(encode_frame(season_rows.head(1), layout, MsgpackCodec())[0])
    assert layout.names == tuple(registry().names)
    assert len(values) == len(registry()) + 1
    assert as_of_from_us(values[0]) == row["as_of"]  # type: ignore[arg-type]
    assert values[1:] == [row[name] for name in layout.names]


def test_extreme_values_survive_bit_for_bit() -> None:
    layout = Layout(("f", "i", "n"), ("float64", "int32", "float64"))
    codec = MsgpackCodec()
    for f in (0.1, -0.0, 1e-308, 1.7976931348623157e308, 2.0**-1074, 1 / 3):
        for i in (0, -1, 127, -128, 32767, -32768, 2**31 - 1, -(2**31)):
            got = codec.decode(codec.encode([1_500_000_000_000_000, f, i, None]))
            assert got == [1_500_000_000_000_000, f, i, None]
            assert math.copysign(1, got[1]) == math.copysign(1, f)  # type: ignore[arg-type]
    assert layout.schema_id == Layout(("f", "i", "n"), ("float64", "int32", "float64")).schema_id


def test_schema_id_changes_with_any_name_order_or_dtype_and_packs_round_trip() -> None:
    base = Layout(("a", "b"), ("float64", "int16"))
    assert Layout.unpack(base.pack()) == base
    others = [
        Layout(("b", "a"), ("int16", "float64")),
        Layout(("a", "b"), ("float64", "int32")),
        Layout(("a", "c"), ("float64", "int16")),
    ]
    assert len({base.schema_id, *(o.schema_id for o in others)}) == 4
    with pytest.raises(ValueError, match="twice"):
        Layout(("a", "a"), ("float64", "float64"))


def test_rows_missing_feature_columns_are_refused_by_name(season_rows: pl.DataFrame) -> None:
    layout = Layout.from_registry()
    with pytest.raises(ValueError, match=layout.names[3]):
        positional_rows(season_rows.drop(layout.names[3]), layout)


def test_messagepack_is_smaller_than_json_for_real_rows(season_rows: pl.DataFrame) -> None:
    layout = Layout.from_registry()
    packed = sum(map(len, encode_frame(season_rows, layout, MsgpackCodec())))
    text = sum(map(len, encode_frame(season_rows, layout, JsonCodec())))
    assert packed < text
