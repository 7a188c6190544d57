"""Session tokens: the cookie holds a random token, the database only its SHA-256."""

from __future__ import annotations

import hashlib
import secrets


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def session_id_for(token: str) -> str:
    """The stored id of the session a cookie token opens."""
    return hashlib.sha256(token.encode()).hexdigest()
