"""Payment endpoints: Stripe webhooks (the generic path and the seed's four) and the
payment configuration the checkout page needs."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from tillpoint.checkout import public as checkout_public
from tillpoint.checkout.public import SyncResult
from tillpoint.errors import NotFound
from tillpoint.payments import public as payments_public
from tillpoint.payments.public import (
    PaymentGateway,
    SandboxGateway,
    SavedPaymentMethod,
    process_webhook,
)
from tillpoint.web.deps import RuntimeDep, SessionDep, UserDep, client_ip, request_actor
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, error_responses
from tillpoint.web.security_middleware import rate_limiter_for

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",  # visible ASCII, as a UUID or any token is written
        description="Repeat a request safely: the same key returns the first result.",
    ),
]

router = APIRouter(tags=["payments"], route_class=TypedPathRoute)


# async: a plain def dependency costs a thread-pool hand-off per request
async def get_gateway(request: Request) -> PaymentGateway:
    gateway: PaymentGateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[PaymentGateway, Depends(get_gateway)]


class WebhookAck(BaseModel):
    received: bool
    event_id: str
    type: str
    duplicate: bool


class PaymentMethodOut(BaseModel):
    type: str
    providers: list[str]
    enabled: bool


class PaymentConfigOut(BaseModel):
    gateway: str
    publishable_key: str | None
    account_country: str
    require_3ds: str
    methods: list[PaymentMethodOut]


WEBHOOK_ERRORS = error_responses(400, 401, 403)

# The seed's dedicated endpoints, each with the event types it takes.
DEDICATED = {
    "payment-succeeded": frozenset({"payment_intent.succeeded"}),
    "payment-failed": frozenset({"payment_intent.payment_failed"}),
    "invoice-paid": frozenset({"invoice.paid", "invoice.payment_succeeded"}),
    "subscription-updated": frozenset(
        {
            "customer.subscription.updated",
            "customer.subscription.created",
            "customer.subscription.deleted",
        }
    ),
}


# Documented as the operation's credential (401 when missing, wrong or stale).
StripeSignature = Annotated[
    str | None,
    Security(
        APIKeyHeader(
            name="Stripe-Signature",
            scheme_name="StripeSignature",
            description="Stripe's signature of the body with the webhook secret.",
            auto_error=False,
        )
    ),
]


async def _receive(
    request: Request,
    rt: Any,
    gateway: PaymentGateway,
    signature: str | None,
    expected: frozenset[str] | None,
) -> dict[str, Any]:
    outcome = await process_webhook(
        rt,
        gateway,
        await request.body(),
        signature,
        source_ip=client_ip(request),
        expected_types=expected,
        limiter=rate_limiter_for(request.app),
    )
    return {
        "received": True,
        "event_id": outcome.event_id,
        "type": outcome.type,
        "duplicate": outcome.duplicate,
    }


@router.post("/api/webhooks/stripe", response_model=WebhookAck, responses=WEBHOOK_ERRORS)
async def stripe_webhook(
    request: Request, rt: RuntimeDep, gateway: GatewayDep, signature: StripeSignature
) -> dict[str, Any]:
    """Any Stripe event, verified by its ``Stripe-Signature``; a replayed event id is a no-op."""
    return await _receive(request, rt, gateway, signature, None)


def _dedicated(path: str, types: frozenset[str]) -> None:
    async def endpoint(
        request: Request, rt: RuntimeDep, gateway: GatewayDep, signature: StripeSignature
    ) -> dict[str, Any]:
        return await _receive(request, rt, gateway, signature, types)

    endpoint.__doc__ = f"Stripe webhook for {', '.join(sorted(types))} only."
    router.add_api_route(
        f"/api/webhooks/stripe/{path}",
        endpoint,
        methods=["POST"],
        response_model=WebhookAck,
        responses=WEBHOOK_ERRORS,
        name=f"stripe_webhook_{path.replace('-', '_')}",
    )


for _path, _types in DEDICATED.items():
    _dedicated(_path, _types)


@router.get("/api/payment/config", response_model=PaymentConfigOut)
async def payment_config(rt: RuntimeDep, gateway: GatewayDep) -> dict[str, Any]:
    """What the checkout page offers (the seed's ``PaymentMethodConfig``), Stripe.js's key
    and the account's country (for the Payment Request Button)."""
    return {
        "gateway": gateway.name,
        "publishable_key": gateway.publishable_key,
        "account_country": rt.settings.stripe_account_country,
        "require_3ds": rt.settings.stripe_require_3ds.value,
        "methods": [m.model_dump() for m in rt.settings.payment_methods],
    }


# --- saved payment methods (registered customers) --------------------------------------


class SavedMethodOut(BaseModel):
    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


class SaveMethodIn(StrictModel):
    payment_method_id: str = Field(max_length=255, pattern=r"^pm_[0-9A-Za-z_]+$")


class SetupIntentOut(BaseModel):
    id: str
    client_secret: str | None
    status: str


def _method_out(m: SavedPaymentMethod) -> dict[str, Any]:
    return {
        "id": m.id,
        "brand": m.brand,
        "last4": m.last4,
        "exp_month": m.exp_month,
        "exp_year": m.exp_year,
    }


@router.get("/api/payment/methods", responses=error_responses(401))
async def saved_methods(rt: RuntimeDep, gateway: GatewayDep, session: UserDep) -> dict[str, Any]:
    """The logged-in user's saved cards (brand, last 4 digits, expiry)."""
    methods = await payments_public.list_saved_methods(rt, gateway, session.user_id)
    return {"items": [_method_out(m) for m in methods], "next_cursor": None}


@router.post(
    "/api/payment/setup-intent",
    response_model=SetupIntentOut,
    status_code=201,
    responses=error_responses(401, 502, 503),
)
async def setup_intent(
    rt: RuntimeDep, gateway: GatewayDep, session: UserDep, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """A SetupIntent whose client secret lets Stripe.js save a card (``confirmCardSetup``)."""
    key = f"tillpoint:setup:{session.user_id}:{idempotency_key or secrets.token_hex(8)}"
    result = await payments_public.start_saving_method(
        rt, gateway, session.user_id, request_key=key
    )
    return {"id": result.id, "client_secret": result.client_secret, "status": result.status}


@router.post("/api/payment/methods", status_code=201, responses=error_responses(401, 402, 502))
async def save_method(
    body: SaveMethodIn, rt: RuntimeDep, gateway: GatewayDep, session: UserDep
) -> dict[str, Any]:
    """Save a payment method Stripe.js tokenised to the user's account."""
    method = await payments_public.save_method(rt, gateway, session.user_id, body.payment_method_id)
    return _method_out(method)


@router.delete(
    "/api/payment/methods/{payment_method_id}", status_code=204, responses=error_responses(401, 404)
)
async def remove_method(
    payment_method_id: Annotated[str, PathParam(max_length=255, pattern=r"^pm_[0-9A-Za-z_]+$")],
    rt: RuntimeDep,
    gateway: GatewayDep,
    session: UserDep,
) -> Response:
    """Remove one of the user's saved methods."""
    await payments_public.remove_method(rt, gateway, session.user_id, payment_method_id)
    return Response(status_code=204)


# --- paying for a checkout ------------------------------------------------------------


class CheckoutRef(StrictModel):
    checkout_id: str = Field(max_length=40, pattern=r"^chk_[0-9A-Za-z]{22}$")


class AuthenticateIn(CheckoutRef):
    success: bool


class PaymentIntentOut(BaseModel):
    checkout_id: str
    payment_intent_id: str
    client_secret: str | None
    status: str
    amount: int
    currency: str
    next_action: dict[str, Any] | None
    gateway: str
    publishable_key: str | None


class PaymentStatusOut(BaseModel):
    checkout_id: str
    state: str
    payment_status: str | None
    next_action: dict[str, Any] | None
    decline_code: str | None
    decline_message: str | None
    order_id: str | None
    refund: dict[str, Any] | None = Field(
        default=None,
        description="payment_refunded: {id, amount, currency, reason, message}: the payment "
        "went back because no order could be made (reason out_of_stock, coupon_unavailable).",
    )


PAY_ERRORS = error_responses(401, 404, 409, 422, 429, 502, 503)


def _status(result: SyncResult) -> dict[str, Any]:
    intent = result.intent
    return {
        "checkout_id": result.checkout_id,
        "state": result.state,
        "payment_status": intent.status.value if intent else None,
        "next_action": intent.next_action if intent else None,
        "decline_code": intent.decline_code if intent else None,
        "decline_message": intent.decline_message if intent else None,
        "order_id": result.order_id,
        "refund": result.refund,
    }


@router.post("/api/payment/create-intent", response_model=PaymentIntentOut, responses=PAY_ERRORS)
async def create_intent(body: CheckoutRef, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    """The checkout's PaymentIntent (created by CONFIRM_ORDER) and its client secret for
    Stripe.js; 409 ``payment_not_started`` before CONFIRM_ORDER."""
    return await checkout_public.payment_intent_for(rt, session, body.checkout_id)


@router.post("/api/payment/confirm", response_model=PaymentStatusOut, responses=PAY_ERRORS)
async def confirm(
    body: CheckoutRef, request: Request, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    """Confirm the payment with the method chosen at SELECT_PAYMENT (if Stripe.js has not
    already), then finalize: the answer says where the checkout is now — order created,
    3-D Secure needed (``next_action``), declined (``decline_code``), or paid but refunded
    because the order could not be made (``refund``). Safe to repeat."""
    actor = request_actor(request, session)
    return _status(
        await checkout_public.confirm_payment(rt, session, body.checkout_id, actor=actor)
    )


@router.post(
    "/api/payment/sandbox/authenticate",
    response_model=PaymentStatusOut,
    responses=error_responses(401, 404, 409),
)
async def sandbox_authenticate(
    body: AuthenticateIn, rt: RuntimeDep, gateway: GatewayDep, session: SessionDep
) -> dict[str, Any]:
    """Offline sandbox only: complete (or fail) the 3-D Secure challenge, as the bank's
    dialog would, then finalize."""
    if not isinstance(gateway, SandboxGateway):
        raise NotFound("Only the sandbox gateway has this.", code="not_found")
    started = await checkout_public.payment_intent_for(rt, session, body.checkout_id)
    await gateway.authenticate(started["payment_intent_id"], success=body.success)
    return _status(await checkout_public.confirm_payment(rt, session, body.checkout_id))
