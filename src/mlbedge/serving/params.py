"""Strictly parsed parameters: what the schema promises is exactly what is accepted.

Pydantic's lax ``date`` also takes Unix timestamps and datetimes; a query parameter documented as
``format: date`` accepts ``YYYY-MM-DD`` only, and a calendar-impossible day is a 422 naming it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO.match(value):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a calendar date: {exc}") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
