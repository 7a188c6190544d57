"""What webhooks offer the rest of tillpoint: emitting events (inside the caller's unit of
work), managing endpoints, and the delivery job.

Other packages import this feature through this module only."""

from tillpoint.webhooks.delivery import deliver_webhooks
from tillpoint.webhooks.emit import emit_event
from tillpoint.webhooks.endpoints import (
    EndpointChanges,
    EndpointDraft,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    rotate_secret,
    update_endpoint,
)
from tillpoint.webhooks.events import (
    CheckoutSessionData,
    CheckoutSessionEventData,
    CheckoutSessionLine,
    EventType,
    FulfillmentData,
    LowStockData,
    OrderCancelledData,
    OrderData,
    OrderFulfilledData,
    OrderLineData,
    OrderRefundedData,
    OrderTotals,
    RefundData,
    ShippedLineData,
)
from tillpoint.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "CheckoutSessionData",
    "CheckoutSessionEventData",
    "CheckoutSessionLine",
    "EndpointChanges",
    "EndpointDraft",
    "EventType",
    "FulfillmentData",
    "LowStockData",
    "OrderCancelledData",
    "OrderData",
    "OrderFulfilledData",
    "OrderLineData",
    "OrderRefundedData",
    "OrderTotals",
    "RefundData",
    "ShippedLineData",
    "WebhookDelivery",
    "WebhookEndpoint",
    "create_endpoint",
    "delete_endpoint",
    "deliver_webhooks",
    "emit_event",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "rotate_secret",
    "update_endpoint",
]
