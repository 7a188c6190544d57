"""The signature of an outbound webhook: HMAC-SHA256 over ``"{timestamp}.{body}"``, sent
as ``Tillpoint-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`` (one ``v1`` per secret that
signs: two during a rotation's grace period)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SIGNATURE_HEADER = "Tillpoint-Signature"
EVENT_ID_HEADER = "Tillpoint-Event-Id"
EVENT_TYPE_HEADER = "Tillpoint-Event-Type"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret (~256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"`` with ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>`` with one ``v1`` per secret, the current one first."""
    parts = [f"t={timestamp}"]
    parts += [f"v1={signature(secret, timestamp, body)}" for secret in signing_secrets]
    return ",".join(parts)
