"""Stock webhooks of the external inventory providers, each verified its own way
(inventory/provider_webhooks.py; docs/inventory.md says which URL to register where).
Our own signed webhook stays ``POST /api/inventory/webhook``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from tillpoint.audit.signature_failures import audit_signature_failure
from tillpoint.errors import TillpointError
from tillpoint.inventory import public as inventory_public
from tillpoint.runtime import Runtime
from tillpoint.web.deps import RuntimeDep, client_ip
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import error_responses
from tillpoint.web.security_middleware import rate_limiter_for

router = APIRouter(prefix="/api/inventory/webhooks", tags=["inventory"], route_class=TypedPathRoute)

_ERRORS = error_responses(400, 401, 413, 422, 503)


class ProviderWebhookOut(BaseModel):
    status: str = Field(description="applied | duplicate | ignored | ping")
    delivery: str = Field(description="provider:sha256 of the body; a replay is a duplicate.")
    applied: int
    unknown_skus: list[str] = Field(description="SKUs the provider sent that we do not sell.")


# Each provider's signature is the operation's credential (checked, and audited on
# failure, by the webhook itself; stated here for the schema).
ShopifyHmac = Annotated[
    str | None,
    Security(
        APIKeyHeader(
            name="X-Shopify-Hmac-Sha256",
            scheme_name="ShopifyHmac",
            description="base64 HMAC-SHA256 of the raw body with the app's secret.",
            auto_error=False,
        )
    ),
]
WooSignature = Annotated[
    str | None,
    Security(
        APIKeyHeader(
            name="X-WC-Webhook-Signature",
            scheme_name="WooCommerceSignature",
            description="base64 HMAC-SHA256 of the raw body with the webhook's secret.",
            auto_error=False,
        )
    ),
]


async def _audited(request: Request, rt: Runtime, webhook: str, exc: TillpointError) -> None:
    if exc.code in inventory_public.PROVIDER_SIGNATURE_FAILURES:
        limiter = rate_limiter_for(request.app)
        await audit_signature_failure(rt, limiter, webhook, exc.code, client_ip(request))


@router.post("/shopify", response_model=ProviderWebhookOut, responses=_ERRORS)
async def shopify_webhook(request: Request, rt: RuntimeDep, hmac: ShopifyHmac) -> dict[str, Any]:
    """Shopify's ``inventory_levels/update``, checked by ``X-Shopify-Hmac-Sha256``
    (base64 HMAC-SHA256 of the raw body with the app's secret)."""
    body = await request.body()
    try:
        outcome = await inventory_public.receive_shopify(rt, request.headers, body)
    except TillpointError as exc:
        await _audited(request, rt, "shopify-inventory", exc)
        raise
    return asdict(outcome)


@router.post("/woocommerce", response_model=ProviderWebhookOut, responses=_ERRORS)
async def woocommerce_webhook(
    request: Request, rt: RuntimeDep, signature: WooSignature
) -> dict[str, Any]:
    """WooCommerce's ``product.updated``, checked by ``X-WC-Webhook-Signature`` (base64
    HMAC-SHA256 of the raw body with the webhook's secret)."""
    body = await request.body()
    try:
        outcome = await inventory_public.receive_woocommerce(rt, request.headers, body)
    except TillpointError as exc:
        await _audited(request, rt, "woocommerce-inventory", exc)
        raise
    return asdict(outcome)


ShipStationToken = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/shipstation/{token}", response_model=ProviderWebhookOut, responses=_ERRORS)
async def shipstation_webhook(
    token: ShipStationToken, request: Request, rt: RuntimeDep
) -> dict[str, Any]:
    """ShipStation's (unsigned) v1 webhook, authenticated by the secret token in this URL;
    its ``resource_url`` is read from the configured ShipStation host only."""
    body = await request.body()
    try:
        outcome = await inventory_public.receive_shipstation(rt, token, body)
    except TillpointError as exc:
        await _audited(request, rt, "shipstation-inventory", exc)
        raise
    return asdict(outcome)
