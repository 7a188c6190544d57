"""Signed double-submit CSRF tokens, per the seed's CSRFConfig.

A token is ``<nonce>.<epoch>.<mac>``: 32 random bytes, the rotation epoch, and
HMAC-SHA256 over (session, nonce, epoch) under a key derived for that epoch.
The same value travels in a cookie (readable by our JS) and a header; we accept
it when both are equal, the MAC verifies for *this* session, and the epoch is
the current or the previous one, so a rotation never breaks an open page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
HEADER = "x-csrf-token"
FORM_FIELD = "_csrf"


def _epoch_key(secret: str, epoch: int) -> bytes:
    return hmac.new(secret.encode(), f"csrf-epoch:{epoch}".encode(), hashlib.sha256).digest()


def _mac(secret: str, epoch: int, session_id: str, nonce: str) -> str:
    msg = f"{session_id}|{nonce}|{epoch}".encode()
    digest = hmac.new(_epoch_key(secret, epoch), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def current_epoch(now_ts: float, rotation_seconds: int) -> int:
    return int(now_ts // rotation_seconds)


def issue_token(secret: str, session_id: str, epoch: int) -> str:
    """A fresh token bound to ``session_id`` for the given rotation epoch."""
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()
    return f"{nonce}.{epoch}.{_mac(secret, epoch, session_id, nonce)}"


def token_is_valid(secret: str, session_id: str, token: str, epoch: int) -> bool:
    """True if ``token`` was issued for ``session_id`` in this epoch or the one before."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    nonce, token_epoch_text, mac = parts
    token_epoch = int(token_epoch_text)
    if token_epoch not in (epoch, epoch - 1):
        return False
    return hmac.compare_digest(mac, _mac(secret, token_epoch, session_id, nonce))


def tokens_match(cookie_value: str | None, submitted: str | None) -> bool:
    """The double-submit half: both present and equal (constant time)."""
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(cookie_value.encode(), submitted.encode())
