"""Schemathesis checks of our own, loaded by the fuzz run (``SCHEMATHESIS_HOOKS``).

``positive_data_acceptance`` is configured to accept 422 for schema-valid data because
a domain rule may refuse it (an unknown coupon code, an empty cart: rules no schema can
state); :func:`valid_data_is_not_refused_for_its_shape` keeps the strict half of that
check: a schema-valid request is never refused for its shape.
"""

from __future__ import annotations

from typing import Any

import schemathesis

STACK_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc")
# Codes that say "the request's shape is wrong": a schema-valid request must never get one.
SHAPE_CODES = frozenset(
    {
        "invalid_request",
        "malformed_json",
        "bad_request",
        "http_error",
        "control_characters_not_allowed",
        "invalid_if_match",
    }
)


@schemathesis.check
def no_stack_trace(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A body never carries a Python traceback or driver error text."""
    text = response.text or ""
    for marker in STACK_TRACE_MARKERS:
        if marker in text:
            raise AssertionError(f"stack trace in the response body: {marker!r}")


@schemathesis.check
def valid_data_is_not_refused_for_its_shape(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """What the schema allows, the server accepts as well formed: no 400, and no 422 whose
    code says the shape is wrong (a 422 for a domain rule is fine)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if response.status_code not in (400, 422):
        return
    try:
        code = response.json()["error"]["code"]
    except Exception:
        code = "unreadable"
    if response.status_code == 400 or code in SHAPE_CODES:
        raise AssertionError(f"schema-valid request refused: {response.status_code} {code}")
