"""Screening untrusted input: what no string we accept may hold, at any depth.

A value is refused for a card number (a PAN-like digit run, as :mod:`scrub` detects it:
card details go from the browser to Stripe, never through us), for control characters
(C0 including NUL, DEL, C1, ANSI escapes) and bidi overrides or isolates, or for nesting
deeper than :data:`MAX_DEPTH` containers. What is too deep is refused, never skipped.

Free text (JSON string values, form values) may hold tab, newline and carriage return;
single-line values (query, path and header values, object keys) may not.
"""

from __future__ import annotations

import re
from typing import Any

from tillpoint.errors import FieldError
from tillpoint.security.scrub import (
    CONTROL_CLASS,
    CONTROL_OR_BREAK_CLASS,
    contains_card_number,
    contains_control_characters,
)

CARD_DATA = "card_data_not_accepted"
CONTROL_CHARACTERS = "control_characters_not_allowed"
TOO_DEEP = "nesting_too_deep"

# Containers (objects and arrays) a body may nest, its top level included. Our deepest
# request shape is three (a coupon's deal terms in its metadata); eight leaves room.
MAX_DEPTH = 8
# A body can hold thousands of bad strings; the first few are enough to answer.
MAX_REFUSALS = 20

Path = tuple[str | int, ...]

# The same rules as JSON Schema patterns (ECMA-262 and Python read them alike), so the
# API schema documents exactly what the screen lets through.
TEXT_PATTERN = f"^[^{CONTROL_CLASS}]*$"
LINE_PATTERN = f"^[^{CONTROL_OR_BREAK_CLASS}]*$"

# A canonical UUID (8-4-4-4-12 hex), as clients write idempotency keys: its dash-separated
# digit groups form a Luhn-valid 13-19 digit run about one time in 460, yet no card number
# is written in that shape.
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

_MESSAGES = {
    CARD_DATA: "Card numbers are not accepted here: card details go to Stripe directly.",
    CONTROL_CHARACTERS: "Control characters and bidirectional overrides are not accepted.",
    TOO_DEEP: f"Nesting deeper than {MAX_DEPTH} levels is not accepted.",
}


def refusal(path: Path, code: str) -> FieldError:
    """The field error for ``code`` at ``path`` (it never echoes the value)."""
    return FieldError(path, code, _MESSAGES[code])


def screen_text(
    text: str, path: Path, *, single_line: bool, card_data: bool = True
) -> FieldError | None:
    """Why ``text`` is refused at ``path``, or None when it is acceptable (``card_data``
    False: one of our own tokens, screened for control characters only)."""
    if card_data and not _UUID.fullmatch(text) and contains_card_number(text):
        return refusal(path, CARD_DATA)
    if contains_control_characters(text, allow_line_breaks=not single_line):
        return refusal(path, CONTROL_CHARACTERS)
    return None


def _screen_scalar(value: Any, path: Path) -> FieldError | None:
    if isinstance(value, str):
        return screen_text(value, path, single_line=False)
    if isinstance(value, int) and not isinstance(value, bool) and contains_card_number(str(value)):
        return refusal(path, CARD_DATA)
    return None


def screen_value(value: Any, at: Path = ()) -> list[FieldError]:
    """Every refusal in a decoded JSON value, in document order (at most
    :data:`MAX_REFUSALS`). Walked with an explicit stack, so depth costs no recursion."""
    found: list[FieldError] = []
    stack: list[tuple[Any, Path, int]] = [(value, at, 0)]
    while stack and len(found) < MAX_REFUSALS:
        item, path, depth = stack.pop()
        if not isinstance(item, dict | list):
            problem = _screen_scalar(item, path)
            if problem is not None:
                found.append(problem)
            continue
        if depth >= MAX_DEPTH:
            found.append(refusal(path, TOO_DEEP))
            continue
        children: list[tuple[Any, Path, int]] = []
        if isinstance(item, list):
            children = [(sub, (*path, i), depth + 1) for i, sub in enumerate(item)]
        for key, sub in item.items() if isinstance(item, dict) else ():
            bad_key = screen_text(str(key), path, single_line=True)
            if bad_key is not None:
                found.append(bad_key)  # the path stops at the object: never echo the key
            else:
                children.append((sub, (*path, key), depth + 1))
        stack.extend(reversed(children))
    return found[:MAX_REFUSALS]


def leading_code(refusals: list[FieldError]) -> str:
    """The code an answer with these refusals carries: card data first, as the gravest."""
    codes = [r.code for r in refusals]
    return CARD_DATA if CARD_DATA in codes else codes[0]


def message_for(code: str) -> str:
    """The human message of a refusal code."""
    return _MESSAGES[code]
