"""Personal-data scrubbing for logs: a shopper's e-mail, names, phone and address never
reach a log line, as card numbers never do (``scrub.py``).

Two ways, because personal data reaches logs in two shapes:

- structured: a mapping (``extra=`` fields, a checkout context) whose key names personal
  data (``email``, ``first_name``, ``street1``, ...) has that value replaced, at any depth;
- free text (messages, exception text, access-log request lines): e-mail addresses
  wherever they are, international phone numbers, and the value after one of those keys
  in ``key=value``, ``"key": "value"`` and ``'key': 'value'`` forms (query strings, JSON,
  ``repr`` of dicts and dataclasses, SQL parameters).

Names and street addresses cannot be recognised in free text by their shape, so the key
forms matter: a name logged without its key is not caught here. What gets logged is
therefore kept structural (ids, not people).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
EMAIL_REDACTED = "[EMAIL REDACTED]"
PHONE_REDACTED = "[PHONE REDACTED]"

# Keys whose values are personal data (the checkout's guest info and addresses, Stripe's
# billing and shipping details), compared in lower case.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "receipt_email",
        "customer_email",
        "first_name",
        "last_name",
        "full_name",
        "name",
        "cardholder_name",
        "phone",
        "phone_number",
        "street",
        "street1",
        "street2",
        "line1",
        "line2",
        "address1",
        "address2",
        "address_line1",
        "address_line2",
        "city",
        "zip",
        "zip_code",
        "postal_code",
        "postcode",
    }
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# '+', a country code and 6-14 more digits, loosely separated (E.164 as people type it).
_PHONE = re.compile(r"\+\d(?:[ \-.()]{0,2}\d){6,14}(?!\d)")
_KEYS = "|".join(sorted(PERSONAL_KEYS, key=len, reverse=True))
# A personal key, quoted or not (JSON inside a string may escape its quotes), then its
# value: quoted (up to the matching quote) after ':' or '=', or bare after '='.
_KEY_VALUE = re.compile(
    r"(?P<key>(?<![\w.])\\*[\"']?(?:" + _KEYS + r")\\*[\"']?)"
    r"(?:(?P<sep>\s*[:=]\s*)(?P<quoted>(?P<q>\\*[\"'])(?:(?!(?P=q)).)*(?P=q))"
    r"|(?P<eq>=)(?P<bare>[^\s&,;)}\]\"']+))",
    re.IGNORECASE,
)


def _redact_value(match: re.Match[str]) -> str:
    if match.group("quoted") is not None:
        q = match.group("q")
        return f"{match.group('key')}{match.group('sep')}{q}{REDACTED}{q}"
    return f"{match.group('key')}={REDACTED}"


def scrub_personal_text(text: str) -> str:
    """``text`` with e-mail addresses, phone numbers and the values of personal keys
    replaced by markers."""
    out = _KEY_VALUE.sub(_redact_value, text)
    out = _EMAIL.sub(EMAIL_REDACTED, out)
    return _PHONE.sub(PHONE_REDACTED, out)


def is_personal_key(key: str) -> bool:
    return key.lower() in PERSONAL_KEYS


def scrub_personal(value: Any, *, _depth: int = 0) -> Any:
    """A copy of ``value`` without personal data: values of personal keys replaced (their
    nested mappings and lists walked), free text scrubbed, recursively."""
    if _depth > 20:
        return REDACTED
    if isinstance(value, str):
        return scrub_personal_text(value)
    if isinstance(value, Mapping):
        return {k: _scrub_item(k, v, _depth) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_personal(v, _depth=_depth + 1) for v in value]
    return value


def _scrub_item(key: object, value: Any, depth: int) -> Any:
    personal = isinstance(key, str) and is_personal_key(key)
    if personal and not isinstance(value, Mapping | list | tuple):
        return REDACTED if value is not None else None
    return scrub_personal(value, _depth=depth + 1)
