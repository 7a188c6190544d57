"""Access tokens (JWT, HS256 pinned) and refresh tokens (random, stored as SHA-256).

The access JWT is a short-lived bearer of identity carried in an httpOnly cookie:
``sub`` (user id), ``sid`` (the registered session it belongs to), ``role``, ``iat``,
``exp``, ``jti``, ``iss``, ``aud``. Only HS256 is accepted, so ``alg: none`` and
algorithm-confusion tokens fail before any claim is read. Expiry is checked against
the injected clock (not PyJWT's wall clock) so the whole app shares one notion of now.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from tillpoint.ids import new_id

ALGORITHM = "HS256"
ISSUER = "tillpoint"
AUDIENCE = "tillpoint-api"
_REQUIRED = ["sub", "sid", "role", "iat", "exp", "jti", "iss", "aud"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    role: str
    expires_at: datetime


class AccessTokenError(Exception):
    """The access token is unusable; ``code`` says why (``expired`` or ``invalid``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def signing_key(secret: str) -> bytes:
    """A key for access JWTs only, derived from the app secret (CSRF uses another)."""
    return hmac.new(secret.encode(), b"tillpoint-access-jwt-v1", hashlib.sha256).digest()


def issue_access_token(
    secret: str, *, user_id: str, session_id: str, role: str, now: datetime, ttl_seconds: int
) -> tuple[str, datetime]:
    """A signed access JWT and its expiry."""
    expires = now + timedelta(seconds=ttl_seconds)
    claims = {
        "sub": user_id,
        "sid": session_id,
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": new_id("jwt"),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, signing_key(secret), algorithm=ALGORITHM), expires


def read_access_token(secret: str, token: str, *, now: datetime) -> AccessClaims:
    """The claims of a genuine, unexpired access token; :class:`AccessTokenError` otherwise."""
    try:
        claims = jwt.decode(
            token,
            signing_key(secret),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": _REQUIRED,
                # Time is checked below against the injected clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise AccessTokenError("invalid") from exc
    fields = (claims["sub"], claims["sid"], claims["role"], claims["exp"])
    if not all(isinstance(v, str) for v in fields[:3]) or not isinstance(fields[3], int):
        raise AccessTokenError("invalid")
    if fields[3] <= now.timestamp():
        raise AccessTokenError("expired")
    return AccessClaims(
        user_id=fields[0],
        session_id=fields[1],
        role=fields[2],
        expires_at=datetime.fromtimestamp(fields[3], tz=now.tzinfo),
    )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_id(token: str) -> str:
    """The stored id of a refresh token (tokens are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()
