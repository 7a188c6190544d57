"""Coupon codes: one normal form (trimmed, upper case) and unique random codes for bulk runs."""

from __future__ import annotations

import re
import secrets

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,63}$")
# No 0/O or 1/I/L: bulk codes are read off paper and typed in by people.
_BULK_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def normalize_code(code: str) -> str:
    """The stored form of a code: surrounding spaces dropped, case folded to upper."""
    return code.strip().upper()


def is_valid_code(code: str) -> bool:
    """Whether a normalised code has an acceptable shape (letters, digits, ``-`` and ``_``)."""
    return bool(CODE_PATTERN.match(code))


def random_code(prefix: str = "", length: int = 10) -> str:
    """A random code such as ``SPRING-7KQ2MZ9XRC`` (about 50 bits for the default length)."""
    body = "".join(secrets.choice(_BULK_ALPHABET) for _ in range(length))
    return f"{prefix}-{body}" if prefix else body
