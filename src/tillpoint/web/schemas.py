"""Shared request/response schema pieces: the strict base model and the error body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from tillpoint.security.scrub import contains_card_number, contains_control_characters

CARD_DATA_NOT_ACCEPTED = "card_data_not_accepted"
CONTROL_CHARACTERS = "control_characters_not_allowed"


def _refuse_unsafe_strings(value: Any, depth: int = 0) -> None:
    """Raise for a card-number-looking or control-character string anywhere in ``value``
    (nested models validate themselves; lists and dict keys/values are walked)."""
    if isinstance(value, str):
        if contains_card_number(value):
            raise PydanticCustomError(
                CARD_DATA_NOT_ACCEPTED,
                "Card numbers are not accepted here: card details go to Stripe directly.",
            )
        if contains_control_characters(value):
            raise PydanticCustomError(CONTROL_CHARACTERS, "Control characters are not allowed.")
    elif isinstance(value, dict) and depth < 10:
        for key, item in value.items():
            _refuse_unsafe_strings(key, depth + 1)
            _refuse_unsafe_strings(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset) and depth < 10:
        for item in value:
            _refuse_unsafe_strings(item, depth + 1)


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields, over-long strings, control characters and
    anything that looks like a card number (422 ``card_data_not_accepted`` with the field
    path): we never accept a PAN or CVV, Stripe does."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    @field_validator("*", mode="after")
    @classmethod
    def _safe_strings(cls, value: Any) -> Any:
        _refuse_unsafe_strings(value)
        return value


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
