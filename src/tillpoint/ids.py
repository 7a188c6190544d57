"""Opaque, prefixed, URL-safe identifiers (``cart_…``), and their validation."""

from __future__ import annotations

import re
import secrets

_ID = re.compile(r"^[a-z]{2,6}_[0-9A-Za-z]{22}$")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    """A new random id: the prefix, ``_`` and 22 base-62 characters (~131 bits)."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def is_valid_id(value: str, prefix: str) -> bool:
    """True if ``value`` has the shape of an id made by :func:`new_id` with ``prefix``."""
    return bool(_ID.match(value)) and value.startswith(prefix + "_")
