"""Answering: JSON bodies serialized straight from the response models, and the error docs.

Handlers return :func:`json_response` of a validated response model: FastAPI then skips its own
second validation and serialization pass (the model was validated when it was built), which is a
large share of a small request's time. The ``response_model`` of each route still documents it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from mlbedge.serving.schemas import ErrorResponse, ValidationErrorResponse

JSON = "application/json"


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``model`` as a JSON response (serialized by pydantic-core, NaN and infinities as null)."""
    return Response(
        content=model.__pydantic_serializer__.to_json(model),
        status_code=status_code,
        media_type=JSON,
        headers=headers,
    )


def error_docs(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route may give."""
    text = {
        400: "The body could not be read (not UTF-8 JSON).",
        401: "No admin token was sent.",
        403: "The admin token is wrong, or admin routes are disabled.",
        404: "Not found (the detail names the id).",
        429: "Too many requests from this client: wait Retry-After seconds.",
        503: "A dependency is down or no champion model is loaded (the detail says which).",
    }
    docs: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorResponse, "description": text[code]}
        if code == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds until the window resets.",
                    "schema": {"type": "integer"},
                }
            }
        if code == 401:
            entry["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
        docs[code] = entry
    return docs


VALIDATION_DOCS: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorResponse, "description": "A field is malformed (each named in loc)."}
}
