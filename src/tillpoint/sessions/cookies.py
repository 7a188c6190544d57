"""Cookie names and attributes. ``__Host-`` names need Secure, so plain-http local
development uses plain names (the only mode that may)."""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.config import Settings


@dataclass(frozen=True, slots=True)
class CookieNames:
    session: str
    csrf: str
    secure: bool


def cookie_names(settings: Settings) -> CookieNames:
    if settings.cookies_secure:
        return CookieNames(session="__Host-tp-session", csrf="__Host-csrf-token", secure=True)
    return CookieNames(session="tp-session", csrf="csrf-token", secure=False)
