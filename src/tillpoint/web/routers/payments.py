"""Payment endpoints: Stripe webhooks (the generic path and the seed's four) and the
payment configuration the checkout page needs."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from tillpoint.orders import subscriptions as _subscriptions  # registers its webhook handlers
from tillpoint.payments import customers
from tillpoint.payments.gateway import PaymentGateway, SavedPaymentMethod
from tillpoint.payments.webhooks import process_webhook
from tillpoint.web.deps import RuntimeDep, UserDep, client_ip
from tillpoint.web.schemas import StrictModel, error_responses

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat a request safely: the same key returns the first result.",
    ),
]

router = APIRouter(tags=["payments"])

assert _subscriptions  # imported for its webhook handlers


def get_gateway(request: Request) -> PaymentGateway:
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
    require_3ds: str
    methods: list[PaymentMethodOut]


WEBHOOK_ERRORS = error_responses(400, 403)

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


async def _receive(
    request: Request, rt: Any, gateway: PaymentGateway, expected: frozenset[str] | None
) -> dict[str, Any]:
    outcome = await process_webhook(
        rt,
        gateway,
        await request.body(),
        request.headers.get("stripe-signature"),
        source_ip=client_ip(request),
        expected_types=expected,
    )
    return {
        "received": True,
        "event_id": outcome.event_id,
        "type": outcome.type,
        "duplicate": outcome.duplicate,
    }


@router.post("/api/webhooks/stripe", response_model=WebhookAck, responses=WEBHOOK_ERRORS)
async def stripe_webhook(request: Request, rt: RuntimeDep, gateway: GatewayDep) -> dict[str, Any]:
    """Any Stripe event, verified by its ``Stripe-Signature``; a replayed event id is a no-op."""
    return await _receive(request, rt, gateway, None)


def _dedicated(path: str, types: frozenset[str]) -> None:
    async def endpoint(request: Request, rt: RuntimeDep, gateway: GatewayDep) -> dict[str, Any]:
        return await _receive(request, rt, gateway, types)

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
    """What the checkout page offers (the seed's ``PaymentMethodConfig``) and Stripe.js's key."""
    return {
        "gateway": gateway.name,
        "publishable_key": gateway.publishable_key,
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
    methods = await customers.list_saved_methods(rt, gateway, session.user_id)
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
    result = await customers.start_saving_method(rt, gateway, session.user_id, request_key=key)
    return {"id": result.id, "client_secret": result.client_secret, "status": result.status}


@router.post("/api/payment/methods", status_code=201, responses=error_responses(401, 402, 502))
async def save_method(
    body: SaveMethodIn, rt: RuntimeDep, gateway: GatewayDep, session: UserDep
) -> dict[str, Any]:
    """Save a payment method Stripe.js tokenised to the user's account."""
    method = await customers.save_method(rt, gateway, session.user_id, body.payment_method_id)
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
    await customers.remove_method(rt, gateway, session.user_id, payment_method_id)
    return Response(status_code=204)
