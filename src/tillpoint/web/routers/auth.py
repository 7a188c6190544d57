"""``/api/auth``: register, login, refresh, logout, logout-all, me; password reset and
e-mail verification (links mailed through the outbox).

Cookies (all httpOnly, SameSite=Strict, Secure outside local development):
the session cookie (a new value at every login: no fixation), the access JWT
(``access_token_ttl_seconds``) and the refresh token (sent only to ``/api/auth``).
Every call here is a state-changing POST and goes through the CSRF check; login and
logout hand out a new CSRF token, bound to the new session.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from tillpoint.audit.service import Actor
from tillpoint.auth import public as auth_public
from tillpoint.auth.public import (
    REFRESH_COOKIE_PATH,
    Client,
    SignedIn,
    confirm_password_reset,
    cookie_names,
    request_password_reset,
    resend_verification,
    start_guest_session,
    verify_email,
)
from tillpoint.checkout.public import adopt_checkouts
from tillpoint.config import Settings
from tillpoint.errors import Unauthorized
from tillpoint.web.deps import (
    AccountMailThrottleDep,
    LoginThrottleDep,
    RuntimeDep,
    UserDep,
    client_ip,
    request_actor,
)
from tillpoint.web.routers.session import set_session_cookies
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, error_responses

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=TypedPathRoute)


class Credentials(StrictModel):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class UserOut(BaseModel):
    id: str
    email: str
    role: str
    created_at: datetime | None
    email_verified: bool


class ResetRequestIn(StrictModel):
    email: Annotated[str, Field(min_length=1, max_length=320)]


class ResetConfirmIn(StrictModel):
    token: Annotated[str, Field(min_length=1, max_length=128)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenIn(StrictModel):
    token: Annotated[str, Field(min_length=1, max_length=128)]


class AcceptedOut(BaseModel):
    """The same answer whether or not an account has the address."""

    status: str = "accepted"
    message: str


class DoneOut(BaseModel):
    status: str = "done"
    message: str


class SignedInOut(BaseModel):
    kind: str = "registered"
    user: UserOut
    cart_id: str
    csrf_token: str
    csrf_header: str = "X-CSRF-Token"
    access_expires_at: datetime
    session_expires_at: datetime
    cart_merge: dict[str, Any] | None = None


class RefreshedOut(BaseModel):
    access_expires_at: datetime
    session_expires_at: datetime


class LoggedOutOut(BaseModel):
    kind: str = "guest"
    cart_id: str
    csrf_token: str
    sessions_ended: int


class MeOut(UserOut):
    session_expires_at: datetime


def _client(request: Request, settings: Settings) -> Client:
    return Client(
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        session_token=request.cookies.get(cookie_names(settings).session),
    )


def _max_age(until: datetime) -> int:
    return max(int(until.timestamp() - time.time()), 60)


def _refresh_path(request: Request) -> str:
    """Where the refresh cookie is sent: ``/api/auth`` under the prefix tillpoint is
    mounted under (``root_path``), if any."""
    return str(request.scope.get("root_path", "")).rstrip("/") + REFRESH_COOKIE_PATH


def _set_token_cookies(
    response: Response, settings: Settings, signed: SignedIn, refresh_path: str
) -> None:
    names = cookie_names(settings)
    response.set_cookie(
        names.access,
        signed.access_token,
        max_age=settings.access_token_ttl_seconds,
        httponly=True,
        secure=names.secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        names.refresh,
        signed.refresh_token,
        max_age=_max_age(signed.context.expires_at),
        httponly=True,
        secure=names.secure,
        samesite="strict",
        path=refresh_path,
    )


def _clear_token_cookies(response: Response, settings: Settings, refresh_path: str) -> None:
    names = cookie_names(settings)
    for name, path in ((names.access, "/"), (names.refresh, refresh_path)):
        response.delete_cookie(
            name, path=path, secure=names.secure, httponly=True, samesite="strict"
        )


def _signed_in_out(
    request: Request, response: Response, settings: Settings, signed: SignedIn
) -> SignedInOut:
    csrf_token = set_session_cookies(response, settings, signed.session_token, signed.context)
    _set_token_cookies(response, settings, signed, _refresh_path(request))
    response.headers["Cache-Control"] = "no-store"
    return SignedInOut(
        user=UserOut(**_user_fields(signed.user)),
        cart_id=signed.context.cart_id,
        csrf_token=csrf_token,
        access_expires_at=signed.access_expires_at,
        session_expires_at=signed.context.expires_at,
        cart_merge=signed.merge.as_dict() if signed.merge is not None else None,
    )


def _user_fields(user: auth_public.UserInfo) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "created_at": user.created_at,
        "email_verified": user.email_verified,
    }


def _anonymous_actor(request: Request) -> Actor:
    return Actor(ip_address=client_ip(request), user_agent=request.headers.get("user-agent"))


@router.post(
    "/register",
    response_model=SignedInOut,
    status_code=201,
    responses=error_responses(403, 409, 422, 429),
)
async def register(
    body: Credentials,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    throttle: LoginThrottleDep,
) -> SignedInOut:
    """Create a customer account and log in; the guest cart is merged into it."""
    signed = await auth_public.register(
        rt,
        throttle,
        email=body.email,
        password=body.password,
        client=_client(request, rt.settings),
        adopt=adopt_checkouts,
    )
    return _signed_in_out(request, response, rt.settings, signed)


@router.post("/login", response_model=SignedInOut, responses=error_responses(401, 403, 422, 429))
async def login(
    body: Credentials,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    throttle: LoginThrottleDep,
) -> SignedInOut:
    """Log in. A wrong password and an unknown email answer the same 401
    ``invalid_credentials``; too many failures answer 429 with ``Retry-After``."""
    signed = await auth_public.login(
        rt,
        throttle,
        email=body.email,
        password=body.password,
        client=_client(request, rt.settings),
        adopt=adopt_checkouts,
    )
    return _signed_in_out(request, response, rt.settings, signed)


@router.post("/refresh", response_model=RefreshedOut, responses=error_responses(401, 403))
async def refresh(request: Request, response: Response, rt: RuntimeDep) -> RefreshedOut:
    """Exchange the refresh cookie for a new access token and a new refresh token.
    Presenting a refresh token that was already exchanged ends the session."""
    names = cookie_names(rt.settings)
    session_token = request.cookies.get(names.session)
    refresh_token = request.cookies.get(names.refresh)
    if not session_token or not refresh_token:
        raise Unauthorized("No refresh token: log in.", code="invalid_refresh_token")
    signed = await auth_public.refresh(
        rt,
        session_token=session_token,
        refresh_token=refresh_token,
        client=_client(request, rt.settings),
    )
    _set_token_cookies(response, rt.settings, signed, _refresh_path(request))
    # Same session and CSRF token; only the cookie's lifetime follows the sliding expiry.
    response.set_cookie(
        names.session,
        session_token,
        max_age=_max_age(signed.context.expires_at),
        httponly=True,
        secure=names.secure,
        samesite="strict",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return RefreshedOut(
        access_expires_at=signed.access_expires_at, session_expires_at=signed.context.expires_at
    )


async def _continue_as_guest(
    request: Request, response: Response, rt: RuntimeDep, ended: int
) -> LoggedOutOut:
    token, ctx = await start_guest_session(
        rt, ip_address=client_ip(request), user_agent=request.headers.get("user-agent")
    )
    csrf_token = set_session_cookies(response, rt.settings, token, ctx)
    _clear_token_cookies(response, rt.settings, _refresh_path(request))
    response.headers["Cache-Control"] = "no-store"
    return LoggedOutOut(cart_id=ctx.cart_id, csrf_token=csrf_token, sessions_ended=ended)


@router.post("/logout", response_model=LoggedOutOut, responses=error_responses(403))
async def logout(request: Request, response: Response, rt: RuntimeDep) -> LoggedOutOut:
    """End this session (even with an expired access token) and continue as a new guest
    with a new CSRF token. The user's cart stays with the account."""
    client = _client(request, rt.settings)
    ended = 0
    if client.session_token:
        ended = int(await auth_public.logout(rt, session_token=client.session_token, client=client))
    return await _continue_as_guest(request, response, rt, ended)


@router.post("/logout-all", response_model=LoggedOutOut, responses=error_responses(401, 403))
async def logout_all(
    request: Request, response: Response, rt: RuntimeDep, session: UserDep
) -> LoggedOutOut:
    """End every session of the logged-in user, on every device, this one included."""
    assert session.user_id is not None
    ended = await auth_public.logout_all(
        rt, user_id=session.user_id, client=_client(request, rt.settings)
    )
    return await _continue_as_guest(request, response, rt, ended)


@router.get("/me", response_model=MeOut, responses=error_responses(401))
async def me(rt: RuntimeDep, session: UserDep) -> MeOut:
    """The logged-in user."""
    assert session.user_id is not None
    user = await auth_public.get_user(rt, session.user_id)
    if user is None:
        raise Unauthorized("Log in first.", code="login_required")
    return MeOut(**_user_fields(user), session_expires_at=session.expires_at)


RESET_ACCEPTED = (
    "If an account uses this address, we have sent it a link to choose a new password. "
    "Check your inbox (and spam folder)."
)


@router.post(
    "/password-reset",
    response_model=AcceptedOut,
    status_code=202,
    responses=error_responses(403, 422, 429),
)
async def password_reset(
    body: ResetRequestIn, request: Request, rt: RuntimeDep, throttle: AccountMailThrottleDep
) -> AcceptedOut:
    """Mail a single-use reset link (valid ``password_reset_ttl_seconds``) if an account
    has this address. The answer is the same either way; 429 ``too_many_email_requests``
    past ``rate_limit_account_email`` (per address) or ``…_per_address`` (per IP)."""
    await request_password_reset(rt, throttle, email=body.email, actor=_anonymous_actor(request))
    return AcceptedOut(message=RESET_ACCEPTED)


@router.post(
    "/password-reset/confirm",
    response_model=DoneOut,
    responses=error_responses(403, 422),
)
async def password_reset_confirm(
    body: ResetConfirmIn, request: Request, response: Response, rt: RuntimeDep
) -> DoneOut:
    """Set a new password with a reset link's token; every session of the account ends.
    422 ``token_invalid``, ``token_used`` (a second use) or ``token_expired``;
    422 ``weak_password`` (the registration's rules)."""
    await confirm_password_reset(
        rt, token=body.token, password=body.password, actor=_anonymous_actor(request)
    )
    response.headers["Cache-Control"] = "no-store"
    return DoneOut(message="Your password has been changed. Sign in with the new one.")


@router.post("/verify-email", response_model=DoneOut, responses=error_responses(403, 422))
async def verify_email_address(body: TokenIn, request: Request, rt: RuntimeDep) -> DoneOut:
    """Mark the address a verification link was mailed to as verified; 422
    ``token_invalid``, ``token_used`` or ``token_expired``."""
    await verify_email(rt, token=body.token, actor=_anonymous_actor(request))
    return DoneOut(message="Thank you: your e-mail address is confirmed.")


@router.post(
    "/verify-email/resend",
    response_model=AcceptedOut,
    status_code=202,
    responses=error_responses(401, 403, 429),
)
async def verify_email_resend(
    request: Request, rt: RuntimeDep, session: UserDep, throttle: AccountMailThrottleDep
) -> AcceptedOut:
    """Mail the signed-in user a new verification link (earlier ones stop working);
    nothing is sent if the address is already verified."""
    assert session.user_id is not None
    sent = await resend_verification(
        rt, throttle, user_id=session.user_id, actor=request_actor(request, session)
    )
    message = (
        "We have sent you a new link. Check your inbox."
        if sent
        else "Your e-mail address is already confirmed."
    )
    return AcceptedOut(message=message)
