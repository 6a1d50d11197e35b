"""Header-first CSV files read against a column spec: typed, checked per row, bad rows named.

The Lahman and retrosplits files are plain CSV with a header. Each loader describes the columns it
keeps (:class:`Column`: header name, table column, type, whether it must be present) and this module
does the rest the way every historical loader does: a line whose fields cannot be split or whose
field count differs from the header's is quarantined; a value that does not parse as its type, a
required value that is empty, and a second row with the same key are quarantined with a reason
naming the column and the value; the other rows are kept. Row numbers are 1-based data rows (the
line after the header is row 1), as in the SBRO loader.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import polars as pl

from mlbedge.sources.historical.common import DataFileError, RawFile, decode_lines

Kind = Literal["text", "int", "float", "date"]

# One CSV field: quoted (a quote inside doubled) or bare (no quote, no comma).
_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
_WELL_FORMED = rf"^{_FIELD}(?:,{_FIELD})*$"


@dataclass(frozen=True)
class Column:
    """One kept column: its ``header`` in the file, its ``name`` in the table, its type."""

    header: str
    name: str
    kind: Kind = "int"
    required: bool = False

    @property
    def dtype(self) -> pl.DataType:
        return {"text": pl.String(), "int": pl.Int32(), "float": pl.Float64(), "date": pl.Date()}[self.kind]


@dataclass(frozen=True)
class CsvSpec:
    """What a file must hold: its columns (in table order) and the key that makes a row unique."""

    what: str  # e.g. "Lahman People.csv", used in error messages
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def schema(self) -> dict[str, pl.DataType]:
        """Table columns with their Polars types, then ``file_sha256`` and ``file_row``."""
        return {
            **{c.name: c.dtype for c in self.columns},
            "file_sha256": pl.String(),
            "file_row": pl.Int32(),
        }


def header_of(raw: RawFile) -> list[str]:
    """The header line's column names (quotes removed)."""
    first = raw.content.lstrip().split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    return [name.strip().strip('"') for name in first.split(",")]


def typed_rows(raw: RawFile, spec: CsvSpec) -> pl.DataFrame:
    """Every data row typed per ``spec``, with ``row_number``, ``raw_row`` and ``reason``.

    ``reason`` is null for a good row. Raises :class:`DataFileError` when the header lacks a
    column of the spec or the file has no data rows. Each line is decoded on its own: a line that
    is not UTF-8 or holds a NUL byte is quarantined, not the file.
    """
    lines = decode_lines(raw.content, fallback=None)
    if lines.is_empty() or lines["line_reason"][0] is not None:
        raise DataFileError(raw.path, f"not a {spec.what}: the header is not readable text", row=0)
    head = lines["raw_row"][0]
    header = [name.strip().strip('"') for name in head.split(",")]
    missing = [c.header for c in spec.columns if c.header not in header]
    if missing:
        raise DataFileError(raw.path, f"not a {spec.what}: the header lacks {', '.join(missing)}", row=0)
    frame = (
        lines.slice(1)
        .select((pl.col("line_number") - 1).alias("row_number"), "raw_row", "line_reason")
        .filter(pl.col("raw_row").str.strip_chars() != "")
    )
    if frame.is_empty():
        raise DataFileError(raw.path, f"no data rows: an empty {spec.what}")
    unquoted = pl.col("raw_row").str.replace_all(r'"[^"]*"', "")
    n_fields = unquoted.str.count_matches(",", literal=True) + 1
    frame = frame.with_columns(
        reason=pl.when(pl.col("line_reason").is_not_null())
        .then(pl.col("line_reason"))
        .when(~pl.col("raw_row").str.contains(_WELL_FORMED))
        .then(pl.lit("badly quoted field (a stray or unclosed double quote)"))
        .when(n_fields != len(header))
        .then(pl.format(f"{{}} fields, the header has {len(header)}", n_fields))
    )
    frame = frame.drop("line_reason")
    shaped = frame.filter(pl.col("reason").is_null())
    source = "\n".join([head, *shaped["raw_row"]])
    typed = _read_typed(source, spec, shaped) if not shaped.is_empty() else None
    if typed is None:
        typed = _typed_slowly(raw, source, spec, shaped)
    bad_shape = frame.filter(pl.col("reason").is_not_null())
    return pl.concat([typed, bad_shape], how="diagonal").sort("row_number")


def _read_typed(source: str, spec: CsvSpec, shaped: pl.DataFrame) -> pl.DataFrame | None:
    """Fast path: the CSV reader types every column at once; None when any value does not parse."""
    try:
        read = pl.read_csv(
            io.StringIO(source),
            infer_schema=False,
            columns=[c.header for c in spec.columns],
            schema_overrides={c.header: c.dtype for c in spec.columns if c.kind != "text"},
        )
    except pl.exceptions.PolarsError:
        return None
    if read.height != shaped.height:
        return None
    read = read.select(
        (
            pl.when(pl.col(c.header).str.strip_chars() != "").then(pl.col(c.header).str.strip_chars())
            if c.kind == "text"
            else pl.col(c.header)
        ).alias(c.name)
        for c in spec.columns
    )
    empty = [
        pl.when(pl.col(c.name).is_null()).then(pl.lit(f"{c.header} is empty"))
        for c in spec.columns
        if c.required
    ]
    reason = pl.concat_str(empty, separator="; ", ignore_nulls=True) if empty else pl.lit("")
    return pl.concat([shaped.drop("reason"), read], how="horizontal").with_columns(
        reason=pl.when(reason != "").then(reason)
    )


def _typed_slowly(raw: RawFile, source: str, spec: CsvSpec, shaped: pl.DataFrame) -> pl.DataFrame:
    """Every column read as text, typed one by one, and each value that does not parse named."""
    if shaped.is_empty():
        fields = shaped.with_columns(pl.lit(None, pl.String).alias(c.header) for c in spec.columns)
    else:
        try:
            read = pl.read_csv(
                io.StringIO(source), infer_schema=False, columns=[c.header for c in spec.columns]
            )
        except pl.exceptions.PolarsError as exc:
            raise DataFileError(raw.path, f"cannot split the {spec.what}'s fields: {exc}") from exc
        if read.height != shaped.height:
            raise DataFileError(raw.path, f"read {read.height} rows from {shaped.height} lines")
        fields = pl.concat([shaped, read], how="horizontal")
    # Typed into temporary columns first: the checks compare them with the text as written, and
    # reasons are formatted only for the (few) rows that have a problem.
    temp = {c.name: f"__typed_{c.name}" for c in spec.columns}
    typed = fields.with_columns(_typed(c).alias(temp[c.name]) for c in spec.columns)
    problem = pl.any_horizontal(_unparsed(c, temp[c.name]) for c in spec.columns)
    typed = typed.with_columns(_problem=problem)
    ok = typed.filter(~pl.col("_problem"))
    bad = typed.filter(pl.col("_problem"))
    if not bad.is_empty():
        joined = pl.concat_str(
            [_problem(c, temp[c.name]) for c in spec.columns], separator="; ", ignore_nulls=True
        )
        bad = bad.with_columns(reason=joined)
    return (
        pl.concat([ok, bad])
        .drop("_problem", *(c.header for c in spec.columns))
        .rename({v: k for k, v in temp.items()})
    )


def dedupe(typed: pl.DataFrame, key: list[str], what: str = "key") -> pl.DataFrame:
    """A second good row with the same ``key`` gets a reason naming the row that was kept."""
    valid = pl.col("reason").is_null()
    typed = typed.with_columns(_kept=pl.col("row_number").filter(valid).first().over(key))
    duplicate = valid & (pl.col("row_number") != pl.col("_kept"))
    return typed.with_columns(
        reason=pl.when(duplicate)
        .then(pl.format(f"duplicate row (same {what}): row {{}} is kept", pl.col("_kept")))
        .otherwise(pl.col("reason"))
    ).drop("_kept")


def split(typed: pl.DataFrame, spec: CsvSpec, raw: RawFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(records, quarantined)``: the good rows as the spec's table columns, and the rest."""
    records = (
        typed.filter(pl.col("reason").is_null())
        .with_columns(file_sha256=pl.lit(raw.sha256), file_row=pl.col("row_number"))
        .select(pl.col(name).cast(dtype) for name, dtype in spec.schema().items())
    )
    quarantined = typed.filter(pl.col("reason").is_not_null()).select("row_number", "reason", "raw_row")
    return records, quarantined


def parse_with_spec(raw: RawFile, spec: CsvSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed, checked and de-duplicated rows of one file: ``(records, quarantined)``."""
    typed = dedupe(typed_rows(raw, spec), list(spec.key))
    return split(typed, spec, raw)


def _value(column: Column) -> pl.Expr:
    return pl.col(column.header).str.strip_chars().replace("", None)


def _typed(column: Column) -> pl.Expr:
    value = _value(column)
    if column.kind == "int":
        return value.str.to_integer(strict=False).cast(pl.Int32, strict=False).alias(column.name)
    if column.kind == "float":
        return value.cast(pl.Float64, strict=False).alias(column.name)
    if column.kind == "date":
        return value.str.to_date("%Y-%m-%d", strict=False).alias(column.name)
    return value.alias(column.name)


def _unparsed(column: Column, typed: str) -> pl.Expr:
    """True where the value is there but does not parse, or is required and empty."""
    value = _value(column)
    unparsed = value.is_not_null() & pl.col(typed).is_null() if column.kind != "text" else pl.lit(False)
    if column.required:
        unparsed = unparsed | value.is_null()
    return unparsed.fill_null(False)


def _problem(column: Column, typed: str) -> pl.Expr:
    """A reason naming the column and value when it does not parse (or is required and empty)."""
    value = _value(column)
    what = {"int": "is not a whole number", "float": "is not a number", "date": "is not a yyyy-mm-dd date"}
    unparsed = value.is_not_null() & pl.col(typed).is_null() if column.kind != "text" else pl.lit(False)
    problem = pl.when(unparsed).then(
        pl.format(f"{column.header} '{{}}' {what.get(column.kind, '')}", value.fill_null(""))
    )
    if column.required:
        problem = problem.when(value.is_null()).then(pl.lit(f"{column.header} is empty"))
    return problem
