"""Cookie names and attributes, and the one way a request's cookies are read.

``__Host-`` names need Secure, so plain-http local development uses plain names (the
only mode that may). The refresh cookie is sent only to ``/api/auth`` (so it is not
attached to every request); a ``__Host-`` name requires ``Path=/``, hence its
``__Secure-`` prefix.

Every reader (the middleware, the handlers through Starlette's ``request.cookies``) parses
the ``Cookie`` headers alike. A request that carries one of our names twice is refused
before anyone reads it (``repeated_names``): two values for one name mean one of them was
planted (by a sibling subdomain, or over plain http), and no rule for picking one is safe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import cookie_parser

from tillpoint.config import Settings

REFRESH_COOKIE_PATH = "/api/auth"


@dataclass(frozen=True, slots=True)
class CookieNames:
    session: str
    csrf: str
    secure: bool
    access: str = "tp-access"
    refresh: str = "tp-refresh"

    @property
    def all(self) -> tuple[str, str, str, str]:
        return (self.session, self.csrf, self.access, self.refresh)


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


def read_cookies(headers: Iterable[str]) -> dict[str, str]:
    """The cookies of a request's ``Cookie`` headers, as ``request.cookies`` reads them."""
    cookies: dict[str, str] = {}
    for header in headers:
        cookies.update(cookie_parser(header))
    return cookies


def repeated_names(headers: Iterable[str], names: Iterable[str]) -> list[str]:
    """Which of ``names`` the ``Cookie`` headers carry more than once (any values), with
    the names split out as :func:`read_cookies` splits them."""
    seen = Counter(
        chunk.split("=", 1)[0].strip() if "=" in chunk else ""
        for header in headers
        for chunk in header.split(";")
    )
    return [name for name in names if seen[name] > 1]
