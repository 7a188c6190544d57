"""Session tokens and refresh tokens (random; stored only as their SHA-256) and access
tokens (JWT, HS256 pinned).

A session cookie (guest or registered) holds a random token; the database keeps only its
SHA-256 as the session id, so a leaked table does not hand out live sessions. Refresh
tokens are kept the same way.

The access JWT is a short-lived bearer of identity carried in an httpOnly cookie:
``sub`` (user id), ``sid`` (the registered session it belongs to), ``role``, ``iat``,
``exp``, ``jti``, ``iss``, ``aud``. Only HS256 is accepted, so ``alg: none`` and
algorithm-confusion tokens fail before any claim is read. Every time claim is checked
against the injected clock (not PyJWT's wall clock) so the whole app shares one notion
of now: ``exp`` must be ahead, ``iat`` and ``nbf`` (if present) not ahead by more than
:data:`LEEWAY_SECONDS`, and all of them whole seconds. A signature says who made a
token, not when it may be used: a token minted for later (a leaked key, a replayed
test token) must not work now.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeGuard

import jwt

from tillpoint.ids import new_id

ALGORITHM = "HS256"
ISSUER = "tillpoint"
AUDIENCE = "tillpoint-api"
_REQUIRED = ["sub", "sid", "role", "iat", "exp", "jti", "iss", "aud"]
# How far ahead of our clock another instance's clock may be when it issues a token.
LEEWAY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    role: str
    expires_at: datetime


class AccessTokenError(Exception):
    """The access token is unusable; ``code`` says why (``expired``, ``not_yet_valid`` or
    ``invalid``)."""

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


def read_access_token(
    secret: str, token: str, *, now: datetime, max_lifetime_seconds: int | None = None
) -> AccessClaims:
    """The claims of a genuine access token that is valid now; :class:`AccessTokenError`
    otherwise (``expired``; ``not_yet_valid`` for ``iat``/``nbf`` ahead of the clock;
    ``invalid`` for anything else, a lifetime beyond ``max_lifetime_seconds`` included)."""
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
    subject = (claims["sub"], claims["sid"], claims["role"])
    if not all(isinstance(v, str) for v in subject):
        raise AccessTokenError("invalid")
    expires = _check_times(claims, now.timestamp(), max_lifetime_seconds)
    return AccessClaims(
        user_id=subject[0],
        session_id=subject[1],
        role=subject[2],
        expires_at=datetime.fromtimestamp(expires, tz=now.tzinfo),
    )


def _whole_seconds(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_times(claims: dict[str, object], now: float, max_lifetime: int | None) -> int:
    """``exp`` once every time claim holds at ``now``."""
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
    if not (_whole_seconds(exp) and _whole_seconds(iat) and _whole_seconds(nbf)):
        raise AccessTokenError("invalid")
    if max_lifetime is not None and exp - iat > max_lifetime + LEEWAY_SECONDS:
        raise AccessTokenError("invalid")
    if iat > now + LEEWAY_SECONDS or nbf > now + LEEWAY_SECONDS:
        raise AccessTokenError("not_yet_valid")
    if exp <= now:
        raise AccessTokenError("expired")
    return exp


def _random_token() -> str:
    return secrets.token_urlsafe(32)


def _stored_id(token: str) -> str:
    """What the database keeps of a token (tokens are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> str:
    return _random_token()


def session_id_for(token: str) -> str:
    """The stored id of the session a cookie token opens."""
    return _stored_id(token)


def new_refresh_token() -> str:
    return _random_token()


def refresh_token_id(token: str) -> str:
    """The stored id of a refresh token."""
    return _stored_id(token)
