"""Card-data and secret scrubbing: we never store, log or echo a PAN, a CVV or a secret.

A *PAN-like* value is a run of 13-19 digits (single spaces or dashes allowed between
digits) that passes the Luhn check. Digits of an international phone number (``+`` and
at most 15 digits) are not a card, nor is a run inside a longer digit string (ids).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
PAN_REDACTED = "[PAN REDACTED]"

# A digit, then 11-17 more digits each optionally preceded by one separator, then a final
# digit: 13-19 digits in all, not touching another digit.
_PAN_CANDIDATE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?![\d])(?![ -]\d)")

# An international phone number (E.164: '+' and at most 15 digits, loosely separated).
# PAN candidates inside one are phone digits, not cards.
_PHONE = re.compile(r"\+\d(?:[ \-.()]{0,2}\d){6,14}(?!\d)")

# Keys whose values are secret whatever they hold.
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|cvv|cvc|cvn|csc|security_?code|card_?number|"
    r"^pan$|authorization|api_?key|cookie|signature|^exp(iry)?_?(month|year|date)?$)",
    re.IGNORECASE,
)

# Secrets recognisable by their shape anywhere in text.
_SECRET_TEXT = [
    re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{8,}"),  # Stripe secret/restricted keys
    re.compile(r"\bwhsec_[0-9A-Za-z+/=]{8,}"),  # webhook signing secrets
    re.compile(r"\bpi_[0-9A-Za-z]+_secret_[0-9A-Za-z]+"),  # PaymentIntent client secrets
    re.compile(r"(?i)\bbearer\s+[0-9A-Za-z._~+/=-]{8,}"),
    re.compile(r"(?i)\b(cvv2?|cvc2?|csc|security[ _-]?code)\b\W{0,3}\d{3,4}\b"),
    re.compile(r"(?i)\b(password|passwd|secret|token)\b\s*[=:]\s*\S+"),
]

# C0/C1 controls except tab, newline and carriage return; DEL; and the bidirectional
# overrides and isolates that make text read differently from what it is ("Trojan Source").
# Written as character-class bodies so the API schema can state the same rule.
CONTROL_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
# The same, tab, newline and carriage return included: for single-line values.
CONTROL_OR_BREAK_CLASS = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{CONTROL_CLASS}]")
_CONTROL_OR_BREAK = re.compile(f"[{CONTROL_OR_BREAK_CLASS}]")


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn (mod 10) check."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_pan(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _pan_spans(text: str) -> list[tuple[int, int]]:
    phones = [m.span() for m in _PHONE.finditer(text)] if "+" in text else []
    return [
        m.span()
        for m in _PAN_CANDIDATE.finditer(text)
        if _is_pan(m.group()) and not any(a <= m.start() and m.end() <= b for a, b in phones)
    ]


def contains_card_number(text: str) -> bool:
    """True if ``text`` holds a PAN-like digit run (13-19 digits, Luhn-valid) that is not
    part of an international phone number."""
    return bool(_pan_spans(text))


def contains_control_characters(text: str, *, allow_line_breaks: bool = True) -> bool:
    """True if ``text`` holds control characters (other than tab/newline/CR when
    ``allow_line_breaks``) or bidi overrides/isolates."""
    pattern = _CONTROL if allow_line_breaks else _CONTROL_OR_BREAK
    return pattern.search(text) is not None


def scrub_text(text: str) -> str:
    """``text`` with PAN-like runs and recognisable secrets replaced by markers, and control
    characters (NUL, escapes, bidi overrides; not tab or line breaks) by U+FFFD: what we
    log or record (user agents, paths) can neither rewrite a terminal nor break a
    PostgreSQL text or JSONB column."""
    out = text
    for start, end in reversed(_pan_spans(text)):
        out = out[:start] + PAN_REDACTED + out[end:]
    for pattern in _SECRET_TEXT:
        out = pattern.sub(REDACTED, out)
    return _CONTROL.sub("\ufffd", out)


def is_secret_key(key: str) -> bool:
    """True if a mapping key names a secret (password, token, CVV, card number, ...)."""
    return _SECRET_KEY.search(key) is not None


def scrub(value: Any, *, _depth: int = 0) -> Any:
    """A copy of ``value`` safe to log or audit: secret keys redacted, strings (keys too)
    scrubbed as :func:`scrub_text` does, recursively through mappings, lists and tuples."""
    if _depth > 20:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            (scrub_text(k) if isinstance(k, str) else k): (
                REDACTED if isinstance(k, str) and is_secret_key(k) else scrub(v, _depth=_depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, _depth=_depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and _is_pan(str(value)):
        return PAN_REDACTED
    return value
