"""Typed FastAPI dependencies: the runtime, the caller's session, ``If-Match``."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Request
from pydantic import WithJsonSchema

from tillpoint.audit.service import Actor
from tillpoint.auth.public import (
    AccountMailThrottle,
    LoginThrottle,
    SessionContext,
    account_mail_throttle_for,
    cookie_names,
    is_registered_token,
    login_throttle_for,
    resolve_guest_session,
    resolve_registered_session,
)
from tillpoint.cart.public import PREFIX as COUPON_PREFIX
from tillpoint.errors import BadRequest, Forbidden, Unauthorized
from tillpoint.runtime import Runtime
from tillpoint.security.attempts import Attempts, attempts_for
from tillpoint.security.ratelimit import RateLimiter
from tillpoint.web.security_middleware import PREFETCHED, rate_limiter_for


# The dependencies are ``async def`` though they never await: FastAPI runs a plain ``def``
# dependency in the thread pool, a thread hand-off on every request for a dict lookup.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_ip(request: Request) -> str | None:
    """The client address as the rate-limit middleware resolved it (``X-Forwarded-For``
    trusted only from configured proxies); the peer address outside that middleware."""
    resolved = request.scope.get("state", {}).get("client_ip")
    if resolved:
        return str(resolved)
    return request.client.host if request.client else None


def prefetched_values(request: Request) -> dict[str, bytes | None] | None:
    """Redis values the rate-limit middleware read for this request, if it did."""
    values: dict[str, bytes | None] | None = request.scope.get("state", {}).get(PREFETCHED)
    return values


async def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's rate limiter (shared through Redis when configured)."""
    return rate_limiter_for(request.app)


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


async def get_session(request: Request, rt: RuntimeDep) -> SessionContext:
    """The caller's live session from its cookies, or 401 ``session_required``.

    A registered session also needs its access JWT: 401 ``access_token_expired`` (refresh),
    ``invalid_access_token`` or ``session_expired`` (log in again) otherwise.
    """
    names = cookie_names(rt.settings)
    token = request.cookies.get(names.session)
    if token and is_registered_token(token):
        ctx: SessionContext | None = await resolve_registered_session(
            rt, token, request.cookies.get(names.access), prefetched=prefetched_values(request)
        )
    else:
        ctx = (
            await resolve_guest_session(rt, token, prefetched=prefetched_values(request))
            if token
            else None
        )
    if ctx is None:
        raise Unauthorized("No live session: call GET /api/session first.", code="session_required")
    request.state.session = ctx
    return ctx


SessionDep = Annotated[SessionContext, Depends(get_session)]


# What If-Match takes: one version (bare, quoted or as a weak ETag) or ``*`` (any version).
IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"?[0-9]{1,12}"?)\s*$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)


async def parse_if_match(
    if_match: Annotated[
        str | None,
        Header(description="The version you last read, to refuse a stale write (412); * for any."),
        WithJsonSchema({"type": "string", "pattern": IF_MATCH_PATTERN}),
    ] = None,
) -> int | None:
    """``If-Match: 3``, ``"3"`` or ``W/"3"`` (an ETag) → 3; absent or ``*`` → None;
    anything else 400 ``invalid_if_match``."""
    if if_match is None:
        return None
    if not _IF_MATCH.match(if_match):
        raise BadRequest("If-Match must be a version number or *.", code="invalid_if_match")
    text = if_match.strip().removeprefix("W/").strip('"')
    return None if text == "*" else int(text)


IfMatchDep = Annotated[int | None, Depends(parse_if_match)]


async def require_user(session: SessionDep) -> SessionContext:
    """The caller's session if a user is logged in; 401 ``login_required`` otherwise."""
    if session.user_id is None:
        raise Unauthorized("Log in first.", code="login_required")
    return session


UserDep = Annotated[SessionContext, Depends(require_user)]


async def get_login_throttle(request: Request, rt: RuntimeDep) -> LoginThrottle:
    """The app's login throttle (Redis-backed when Redis is configured)."""
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = login_throttle_for(rt.settings, rt.redis)
        request.app.state.login_throttle = throttle
    return throttle


LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]


async def get_account_mail_throttle(request: Request, rt: RuntimeDep) -> AccountMailThrottle:
    """The app's limit on account mails (reset, verification), shared through Redis."""
    throttle: AccountMailThrottle | None = getattr(request.app.state, "account_mail", None)
    if throttle is None:
        throttle = account_mail_throttle_for(rt.settings, rt.redis)
        request.app.state.account_mail = throttle
    return throttle


AccountMailThrottleDep = Annotated[AccountMailThrottle, Depends(get_account_mail_throttle)]


async def get_coupon_attempts(request: Request, rt: RuntimeDep) -> Attempts:
    """The app's count of failed coupon codes (Redis-backed when Redis is configured)."""
    attempts: Attempts | None = getattr(request.app.state, "coupon_attempts", None)
    if attempts is None:
        attempts = attempts_for(rt.redis, COUPON_PREFIX)
        request.app.state.coupon_attempts = attempts
    return attempts


CouponAttemptsDep = Annotated[Attempts, Depends(get_coupon_attempts)]


async def require_admin(session: SessionDep) -> SessionContext:
    """The caller's session if it belongs to a logged-in admin; 401/403 otherwise."""
    if session.user_id is None:
        raise Unauthorized("Log in as an admin first.", code="login_required")
    if session.role != "admin":
        raise Forbidden("This needs the admin role.", code="admin_required")
    return session


AdminDep = Annotated[SessionContext, Depends(require_admin)]


def request_actor(request: Request, session: SessionContext) -> Actor:
    """The audit actor of an HTTP caller: its session, user, address and user agent."""
    return Actor(
        session_id=session.session_id,
        user_id=session.user_id,
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
