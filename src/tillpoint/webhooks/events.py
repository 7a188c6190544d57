"""The event types and the stable JSON shape of each one's ``data``.

Every delivery's body is ``{"id": "evt_…", "type": …, "created_at": …, "data": {…}}``;
``data`` is one of the models below (money in minor units of ``currency``). Fields are
only ever added, never renamed or removed (docs/webhooks.md)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class EventType(StrEnum):
    order_created = "order.created"
    order_paid = "order.paid"
    order_refunded = "order.refunded"
    order_fulfilled = "order.fulfilled"
    order_cancelled = "order.cancelled"
    inventory_low_stock = "inventory.low_stock"
    checkout_session_completed = "checkout.session.completed"
    checkout_session_expired = "checkout.session.expired"


class OrderTotals(BaseModel):
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    refunded: int


class OrderLineData(BaseModel):
    product_id: str
    variant_id: str | None
    sku: str | None
    name: str
    quantity: int
    unit_price: int
    total: int


class OrderData(BaseModel):
    """``order.created``, ``order.paid`` (and ``order.fulfilled``, ``order.cancelled``)."""

    id: str
    number: str
    status: str
    currency: str
    email: str | None
    totals: OrderTotals
    lines: list[OrderLineData]
    created_at: datetime


class RefundData(BaseModel):
    id: str
    amount: int
    currency: str
    reason: str | None


class OrderRefundedData(OrderData):
    """``order.refunded``: the order after the refund, and the refund itself."""

    refund: RefundData


class OrderCancelledData(OrderData):
    """``order.cancelled``: the order as cancelled, and the refund of what was left (none
    when nothing was left to refund)."""

    cancelled_at: datetime
    refund: RefundData | None


class ShippedLineData(BaseModel):
    sku: str | None
    name: str
    quantity: int


class FulfillmentData(BaseModel):
    id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None
    lines: list[ShippedLineData]


class OrderFulfilledData(OrderData):
    """``order.fulfilled``: a shipment left (partial or the last one); ``fulfillment_status``
    says whether anything is still to ship."""

    fulfillment_status: str
    fulfillment: FulfillmentData


class LowStockData(BaseModel):
    """``inventory.low_stock``: a SKU's available stock (on hand less reserved) went from
    above its threshold to at or below it."""

    product_id: str
    variant_id: str | None
    sku: str
    available: int
    on_hand: int
    threshold: int


class CheckoutSessionLine(BaseModel):
    sku: str | None
    name: str
    quantity: int
    unit_amount: int
    amount_total: int


class CheckoutSessionData(BaseModel):
    """A checkout session as ``GET /api/v1/checkout-sessions/{id}`` answers it (money in
    minor units: the order's totals once complete, else the line items')."""

    id: str
    object: str = "checkout_session"
    status: str
    url: str | None
    expires_at: datetime
    created_at: datetime
    success_url: str
    cancel_url: str
    client_reference_id: str | None
    customer_email: str | None
    metadata: dict[str, str]
    allow_coupons: bool
    currency: str
    amount_subtotal: int
    amount_discount: int
    amount_shipping: int
    amount_tax: int
    amount_total: int
    line_items: list[CheckoutSessionLine]
    order_id: str | None
    order_number: str | None


class CheckoutSessionEventData(BaseModel):
    """``checkout.session.completed`` (with its order) and ``checkout.session.expired``
    (``order`` null)."""

    checkout_session: CheckoutSessionData
    order: OrderData | None


EventData = (
    OrderData
    | OrderRefundedData
    | OrderCancelledData
    | OrderFulfilledData
    | LowStockData
    | CheckoutSessionEventData
)


def event_body(event_id: str, event_type: str, created_at: datetime, data: object) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, the same at every attempt."""
    envelope = {
        "id": event_id,
        "type": event_type,
        "created_at": created_at.isoformat(),
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
