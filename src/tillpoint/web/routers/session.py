"""``GET /api/session``: start (or continue) a session and hand out the CSRF token."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from tillpoint.auth.public import (
    SessionContext,
    cookie_names,
    is_registered_token,
    load_session,
    resolve_guest_session,
    session_context,
    start_guest_session,
)
from tillpoint.config import Settings
from tillpoint.security import csrf
from tillpoint.web.deps import RuntimeDep, client_ip, prefetched_values
from tillpoint.web.routing import TypedPathRoute

router = APIRouter(prefix="/api", tags=["session"], route_class=TypedPathRoute)


class SessionOut(BaseModel):
    kind: str
    cart_id: str
    user_id: str | None
    expires_at: datetime
    csrf_token: str
    csrf_header: str = "X-CSRF-Token"


def set_session_cookies(
    response: Response, settings: Settings, token: str, ctx: SessionContext
) -> str:
    """Set the session cookie and a fresh CSRF cookie bound to it; returns the CSRF token."""
    names = cookie_names(settings)
    max_age = max(int(ctx.expires_at.timestamp() - time.time()), 60)
    response.set_cookie(
        names.session,
        token,
        max_age=max_age,
        httponly=True,
        secure=names.secure,
        samesite="strict",
        path="/",
    )
    epoch = csrf.current_epoch(time.time(), settings.csrf_rotation_seconds)
    csrf_token = csrf.issue_token(settings.resolved_secret_key, ctx.session_id, epoch)
    # Readable by our own JS on purpose (double submit), never sent cross-site.
    response.set_cookie(
        names.csrf,
        csrf_token,
        max_age=max_age,
        httponly=False,
        secure=names.secure,
        samesite="strict",
        path="/",
    )
    return csrf_token


@router.get("/session", response_model=SessionOut)
async def get_or_start_session(request: Request, response: Response, rt: RuntimeDep) -> SessionOut:
    """Continue the caller's session or start a guest session; always returns a CSRF token."""
    names = cookie_names(rt.settings)
    token = request.cookies.get(names.session)
    ctx: SessionContext | None = None
    if token and is_registered_token(token):
        # A registered session continues even when its access token needs a refresh.
        live = await load_session(rt, token, prefetched=prefetched_values(request))
        ctx = session_context(live) if live is not None else None
    elif token:
        ctx = await resolve_guest_session(rt, token, prefetched=prefetched_values(request))
    if ctx is None or token is None:
        token, ctx = await start_guest_session(
            rt, ip_address=client_ip(request), user_agent=request.headers.get("user-agent")
        )
    csrf_token = set_session_cookies(response, rt.settings, token, ctx)
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(
        kind="guest" if ctx.is_guest else "registered",
        cart_id=ctx.cart_id,
        user_id=ctx.user_id,
        expires_at=ctx.expires_at,
        csrf_token=csrf_token,
    )
