"""Checkout sessions for a shop's server under ``/api/v1/checkout-sessions``.

Authenticated by an API key only (``Authorization: Bearer tp_sk_…``; no cookies, so no
CSRF token): docs/checkout-sessions.md. Every answer is ``Cache-Control: no-store``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from tillpoint.api_keys import public as api_keys
from tillpoint.audit.service import Actor
from tillpoint.checkout_sessions import public as sessions
from tillpoint.runtime import Runtime
from tillpoint.web.deps import RuntimeDep, client_ip
from tillpoint.web.routers.payments import IdempotencyKey
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import error_responses
from tillpoint.web.screening import OPAQUE_TOKEN
from tillpoint.web.security_middleware import rate_limiter_for
from tillpoint.webhooks.public import CheckoutSessionData

router = APIRouter(prefix="/api/v1/checkout-sessions", tags=["checkout sessions"],
                   route_class=TypedPathRoute)  # fmt: skip

# Any id up to 100 characters reaches the handler: after the key check, a malformed id is
# refused as an unknown one (404 checkout_session_not_found), as the API docs promise.
SessionId = Annotated[str, Path(min_length=1, max_length=100, json_schema_extra=OPAQUE_TOKEN)]
ERRORS = error_responses(401, 403, 404, 409, 422)


KeyCheck = Callable[[Request, Response, Runtime], Awaitable[api_keys.ApiKeyInfo]]


def _key_for(scope: api_keys.Scope) -> KeyCheck:
    """A dependency: the request's API key, if it is live and has ``scope`` (audited)."""

    async def check(request: Request, response: Response, rt: RuntimeDep) -> api_keys.ApiKeyInfo:
        response.headers["Cache-Control"] = "no-store"
        use = api_keys.KeyUse(
            request.method, request.url.path, client_ip(request),
            request.headers.get("user-agent"),
        )  # fmt: skip
        limiter = rate_limiter_for(request.app)
        header = request.headers.get("authorization")
        return await api_keys.authenticate(rt, header, scope, use, limiter)

    return check


WriteKey = Annotated[api_keys.ApiKeyInfo, Depends(_key_for(api_keys.Scope.checkout_sessions_write))]
ReadKey = Annotated[api_keys.ApiKeyInfo, Depends(_key_for(api_keys.Scope.checkout_sessions_read))]


def base_url(request: Request, rt: Runtime) -> str:
    """Where shoppers reach this tillpoint (the configured public URL, else this request's)."""
    return rt.settings.public_base_url or str(request.base_url).rstrip("/")


def _actor(request: Request) -> Actor:
    return Actor(ip_address=client_ip(request), user_agent=request.headers.get("user-agent"))


@router.post("", status_code=201, responses=ERRORS)
async def create_checkout_session(
    body: sessions.CheckoutSessionIn,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    key: WriteKey,
    idempotency_key: IdempotencyKey = None,
) -> CheckoutSessionData:
    """Make a checkout session; send the shopper to its ``url``. The same
    ``Idempotency-Key`` with the same body answers the first session again (with a
    different body: 409 ``idempotency_key_reused``)."""
    who = sessions.Creator(key.id, idempotency_key, _actor(request))
    row, _made = await sessions.create_session(rt, body, who)
    return sessions.session_data(row, base_url(request, rt))


@router.get("/{session_id}", responses=ERRORS)
async def get_checkout_session(
    session_id: SessionId, request: Request, rt: RuntimeDep, key: ReadKey
) -> CheckoutSessionData:
    """A session: its status, totals (the order's once complete) and order."""
    row = await sessions.get_session(rt, session_id)
    return sessions.session_data(row, base_url(request, rt))


@router.post("/{session_id}/expire", responses=ERRORS)
async def expire_checkout_session(
    session_id: SessionId, request: Request, rt: RuntimeDep, key: WriteKey
) -> CheckoutSessionData:
    """Expire an open session now (409 ``checkout_session_not_open`` otherwise)."""
    row = await sessions.expire_session(rt, session_id, actor=_actor(request))
    return sessions.session_data(row, base_url(request, rt))
