"""ASGI middleware: body-size limit and CSRF. Pure ASGI so streaming stays cheap."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from tillpoint.audit.events import SecurityEventType
from tillpoint.audit.service import Actor, log_security_event
from tillpoint.auth.public import cookie_names, read_cookies, session_id_for
from tillpoint.config import Settings
from tillpoint.security import csrf
from tillpoint.security.origins import origin_of

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# /api/v1 takes an API key in the Authorization header only, never a cookie: no CSRF.
CSRF_EXEMPT_PREFIXES = ("/api/webhooks/", "/api/inventory/webhook", "/api/v1/")


async def _send_error(
    send: Send, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> None:
    error: dict[str, Any] = {"code": code, "message": message, "fields": []}
    if details:
        error["details"] = details
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie_headers(scope: Scope) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"]


def _cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies, read exactly as the handlers' ``request.cookies`` reads them."""
    return read_cookies(_cookie_headers(scope))


class BodyLimitMiddleware:
    """Refuse bodies larger than ``max_body_bytes`` with 413, by header or by counting."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _send_error(
                send, 413, "payload_too_large", f"Bodies are limited to {self.max_bytes} bytes."
            )
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _send_error(
                send, 413, "payload_too_large", f"Bodies are limited to {self.max_bytes} bytes."
            )


class _TooLarge(Exception):
    pass


class CSRFMiddleware:
    """On every state-changing request (signature-verified webhooks exempt): the page it
    came from must be ours (``Origin``, else ``Referer``; 403 ``origin_not_allowed``), and
    the signed double-submit token must match (403 ``csrf_failed``)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.names = cookie_names(settings)
        self.origins = {origin_of(o) for o in settings.resolved_allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or scope["path"].startswith(CSRF_EXEMPT_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        if (origin := self._foreign_origin(scope)) is not None:
            await _send_error(
                send, 403, "origin_not_allowed", "This request came from another site's page."
            )
            await _audit_csrf_failure(
                scope, cookies.get(self.names.session), {"origin": origin[:200]}
            )
            return
        submitted = _header(scope, csrf.HEADER.encode())
        if submitted is None and (_header(scope, b"content-type") or "").startswith(
            "application/x-www-form-urlencoded"
        ):
            submitted, receive = await _form_token(receive)
        if not self._valid(cookies, submitted):
            scope.setdefault("state", {})["csrf_failed"] = True
            await _send_error(send, 403, "csrf_failed", "Missing or invalid CSRF token.")
            await _audit_csrf_failure(scope, cookies.get(self.names.session))
            return
        await self.app(scope, receive, send)

    def _foreign_origin(self, scope: Scope) -> str | None:
        """The sending page's origin if it is present and neither this request's own nor
        an allowed one; None otherwise. Clients that send neither header (scripts, server
        to server) are left to the token check, as before."""
        sent = _header(scope, b"origin")
        if sent is None:
            referer = _header(scope, b"referer")
            if referer is None:
                return None
            sent = referer
        origin = origin_of(sent)
        own = origin_of(f"{scope.get('scheme', 'http')}://{_header(scope, b'host') or ''}")
        if origin is not None and (origin == own or origin in self.origins):
            return None
        return origin or sent

    def _valid(self, cookies: dict[str, str], submitted: str | None) -> bool:
        session_token = cookies.get(self.names.session)
        cookie_token = cookies.get(self.names.csrf)
        if not session_token or not csrf.tokens_match(cookie_token, submitted):
            return False
        epoch = csrf.current_epoch(time.time(), self.settings.csrf_rotation_seconds)
        return csrf.token_is_valid(
            self.settings.resolved_secret_key, session_id_for(session_token), submitted or "", epoch
        )


async def _audit_csrf_failure(
    scope: Scope, session_token: str | None, extra: dict[str, str] | None = None
) -> None:
    """One ``csrf_failed`` security event per refused request (never raises); ``extra``
    goes into its metadata (the foreign origin of a cross-site request)."""
    rt = getattr(scope["app"].state, "runtime", None)
    if rt is None:
        return
    client = scope.get("client")
    ip = scope.get("state", {}).get("client_ip") or (client[0] if client else None)
    actor = Actor(
        session_id=session_id_for(session_token) if session_token else None,
        ip_address=ip,
        user_agent=_header(scope, b"user-agent"),
    )
    await log_security_event(
        rt,
        SecurityEventType.csrf_failed,
        actor=actor,
        metadata={"method": scope["method"], "path": scope["path"][:200], **(extra or {})},
    )


async def _form_token(receive: Receive) -> tuple[str | None, Receive]:
    """Read a urlencoded body for ``_csrf`` and hand the same body on downstream."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    values = parse_qs(body.decode("latin-1")).get(csrf.FORM_FIELD)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return (values[0] if values else None), replay
