"""Human-friendly order numbers: ``TP-7K4M-9QX2``.

Eight Crockford base-32 characters (no I, L, O, U: nothing to misread on the phone),
random so they reveal no sales volume; 32^8 ≈ 10^12 values, and the unique index on
``orders.number`` with a retry makes a collision harmless.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PATTERN = re.compile(r"^TP-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def new_order_number() -> str:
    """A fresh random order number."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"TP-{raw[:4]}-{raw[4:]}"


def normalize_order_number(text: str) -> str | None:
    """The canonical form of a number a customer typed (case, O→0, I/L→1), or None."""
    cleaned = text.strip().upper().replace("O", "0").replace("I", "1").replace("L", "1")
    cleaned = re.sub(r"[\s-]", "", cleaned).removeprefix("TP")
    candidate = f"TP-{cleaned[:4]}-{cleaned[4:]}"
    return candidate if _PATTERN.match(candidate) else None
