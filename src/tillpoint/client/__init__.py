"""tillpoint's Python client for a shop's server: checkout sessions by API key, and
webhook verification. It needs httpx and pydantic only and imports nothing else of
tillpoint, so a shop uses it without the server's code.

    from tillpoint.client import TillpointClient, SkuLineItem

    with TillpointClient("https://pay.example.com", os.environ["TILLPOINT_API_KEY"]) as tp:
        session = tp.create_checkout_session(
            line_items=[SkuLineItem(sku="TEA-SENCHA", quantity=1)],
            success_url="https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="https://shop.example.com/cart",
        )
    # redirect the shopper to session.url
"""

from tillpoint.client.async_client import AsyncTillpointClient
from tillpoint.client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    FieldError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TillpointError,
)
from tillpoint.client.models import (
    AdjustableQuantity,
    CheckoutSession,
    CheckoutSessionLineItem,
    LineItem,
    Order,
    OrderLine,
    OrderTotals,
    PriceData,
    PriceDataLineItem,
    SkuLineItem,
)
from tillpoint.client.sync_client import TillpointClient
from tillpoint.client.webhooks import SignatureVerificationError, WebhookEvent, construct_event

__all__ = [
    "APIConnectionError",
    "APIError",
    "AdjustableQuantity",
    "AsyncTillpointClient",
    "AuthenticationError",
    "CheckoutSession",
    "CheckoutSessionLineItem",
    "ConflictError",
    "FieldError",
    "InvalidRequestError",
    "LineItem",
    "NotFoundError",
    "Order",
    "OrderLine",
    "OrderTotals",
    "PermissionDeniedError",
    "PriceData",
    "PriceDataLineItem",
    "RateLimitError",
    "SignatureVerificationError",
    "SkuLineItem",
    "TillpointClient",
    "TillpointError",
    "WebhookEvent",
    "construct_event",
]
