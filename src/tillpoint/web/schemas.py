"""Shared request/response schema pieces: the strict base model and the error body."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Strict, TypeAdapter
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields and over-long strings. Card numbers, control
    characters and deep nesting are refused before any model sees the body, for every
    route, by the input gate (``web/screening.py``)."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)


def _whole(value: Any) -> Any:
    # JSON Schema's "integer" takes 3 and 3.0 alike; numeric text and booleans are no integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A request's whole number: what the schema calls an integer, nothing more (no "3", no true).
# Bounds go first, so they stay schema keywords: Annotated[int, Field(ge=1), Strict(), Whole].
Whole = BeforeValidator(_whole)
WholeNumber = Annotated[int, Strict(), Whole]

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_text(value: Any) -> Any:
    # Pydantic alone reads a number, or numeric text, as a Unix time; the schema says ISO.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise PydanticCustomError(
            "iso_8601_required", "Give an ISO 8601 date or date-time, e.g. 2026-01-01T00:00:00Z."
        )
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
IsoAwareDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]


class FieldErrorOut(BaseModel):
    path: list[str | int]
    code: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldErrorOut] = []
    details: dict[str, Any] = {}


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "fields", ...}}``."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring our error body for these statuses."""
    return {s: {"model": ErrorBody} for s in statuses}


def patch_only(tp: Any) -> WithJsonSchema:
    """The schema of ``tp`` without ``null``: a PATCH field that may be left out, not nulled.
    Its definitions are written in place, since a ``$defs`` inside one field would leave the
    OpenAPI document with a reference nothing resolves."""
    schema = TypeAdapter(tp).json_schema()
    definitions = schema.pop("$defs", {})
    return WithJsonSchema(_inlined(schema, definitions))


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inlined(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(value, definitions) for value in node]
    return node


def no_patch_defaults(schema: dict[str, Any]) -> None:
    """A PATCH model's ``json_schema_extra``: a field left out keeps its value, so no
    default is stated."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
