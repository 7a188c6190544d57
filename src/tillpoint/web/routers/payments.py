"""Payment endpoints: Stripe webhooks (the generic path and the seed's four) and the
payment configuration the checkout page needs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from tillpoint.payments.gateway import PaymentGateway
from tillpoint.payments.webhooks import process_webhook
from tillpoint.web.deps import RuntimeDep, client_ip
from tillpoint.web.schemas import error_responses

router = APIRouter(tags=["payments"])


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
