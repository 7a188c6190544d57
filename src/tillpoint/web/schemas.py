"""Shared request/response schema pieces: the strict base model and the error body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields and over-long strings. Card numbers, control
    characters and deep nesting are refused before any model sees the body, for every
    route, by the input gate (``web/screening.py``)."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)


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
