"""Trailing-slash redirects (``/api/products/`` -> ``/api/products``) that point at the
configured public origin, or are relative: never at the ``Host`` header, which is the
client's to choose (Starlette's own redirect is built from it). The request's path already
carries the prefix tillpoint is mounted under (``root_path``), so only the origin is added."""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router

from tillpoint.web.middleware import ASGIApp, Receive, Scope, Send


class SlashRedirect:
    """The router's fallback: 307 to the same path with the trailing slash toggled when
    that path has a route, else the router's own fallback (404)."""

    def __init__(self, router: Router, public_origin: str | None, fallback: ASGIApp) -> None:
        self.router = router
        self.base = (public_origin or "").rstrip("/")
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        toggled = _toggled(scope) if scope["type"] == "http" else None
        if toggled is not None:
            other = {**scope, "path": toggled}
            if any(route.matches(other)[0] is not Match.NONE for route in self.router.routes):
                query = scope.get("query_string", b"").decode("latin-1")
                location = self.base + toggled + (f"?{query}" if query else "")
                await RedirectResponse(location)(scope, receive, send)
                return
        await self.fallback(scope, receive, send)


def _toggled(scope: Scope) -> str | None:
    """The request's full path with its trailing slash toggled; None for the root and for
    a result starting ``//`` (relative, a browser would read it as another host)."""
    path: str = scope["path"]  # root path included
    if path.removeprefix(scope.get("root_path", "")) in ("", "/"):
        return None
    toggled = path.rstrip("/") if path.endswith("/") else path + "/"
    return None if toggled.startswith("//") or not toggled else toggled


def install_slash_redirects(router: Router, public_origin: str | None) -> None:
    """Replace the router's Host-built slash redirects with :class:`SlashRedirect`."""
    router.redirect_slashes = False
    router.default = SlashRedirect(router, public_origin, router.default)
