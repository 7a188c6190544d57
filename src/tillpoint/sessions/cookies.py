"""Cookie names and attributes. ``__Host-`` names need Secure, so plain-http local
development uses plain names (the only mode that may).

The refresh cookie is sent only to ``/api/auth`` (so it is not attached to every
request); a ``__Host-`` name requires ``Path=/``, hence its ``__Secure-`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.config import Settings

REFRESH_COOKIE_PATH = "/api/auth"


@dataclass(frozen=True, slots=True)
class CookieNames:
    session: str
    csrf: str
    secure: bool
    access: str = "tp-access"
    refresh: str = "tp-refresh"


def cookie_names(settings: Settings) -> CookieNames:
    if settings.cookies_secure:
        return CookieNames(
            session="__Host-tp-session",
            csrf="__Host-csrf-token",
            secure=True,
            access="__Host-tp-access",
            refresh="__Secure-tp-refresh",
        )
    return CookieNames(session="tp-session", csrf="csrf-token", secure=False)
