"""What orders offers the rest of tillpoint.

Orders: drafts written once per paid checkout, reading them (customer, admin, checkout),
refunds, and recurring subscriptions.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.orders.admin import (
    CURSOR_PATTERN,
    OrderCursor,
    OrderFilters,
    list_admin_orders,
    order_history,
    order_stats,
)
from tillpoint.orders.buy_again import BuyAgainReport, LineOutcome, buy_again
from tillpoint.orders.display import order_display_json
from tillpoint.orders.emails import confirmation_email, queue_owner_new_order
from tillpoint.orders.fulfilment import FulfilRequest, ShipLine, fulfil_order
from tillpoint.orders.models import (
    Fulfillment,
    Order,
    OrderLine,
    Refund,
    SubscriptionRecord,
)
from tillpoint.orders.refunds import RefundLine, RefundRequest, cancel_order, refund_order
from tillpoint.orders.service import (
    InsertedOrder,
    LineDraft,
    OrderDraft,
    OrderRef,
    get_order,
    get_order_as_admin,
    get_order_for_checkout,
    insert_order_rows,
    is_recurring,
    list_orders,
    order_access_token,
    order_event_data,
    order_id_for_intent,
    order_of_intent,
    order_ref_for_checkout,
    order_status,
    order_to_dict,
    orders_for_checkout_or_intent,
)
from tillpoint.orders.subscriptions import invoice_paid, record_subscription, subscription_changed

__all__ = [
    "CURSOR_PATTERN",
    "BuyAgainReport",
    "FulfilRequest",
    "Fulfillment",
    "InsertedOrder",
    "LineDraft",
    "LineOutcome",
    "Order",
    "OrderCursor",
    "OrderDraft",
    "OrderFilters",
    "OrderLine",
    "OrderRef",
    "Refund",
    "RefundLine",
    "RefundRequest",
    "ShipLine",
    "SubscriptionRecord",
    "buy_again",
    "cancel_order",
    "confirmation_email",
    "fulfil_order",
    "get_order",
    "get_order_as_admin",
    "get_order_for_checkout",
    "insert_order_rows",
    "invoice_paid",
    "is_recurring",
    "list_admin_orders",
    "list_orders",
    "order_access_token",
    "order_display_json",
    "order_event_data",
    "order_history",
    "order_id_for_intent",
    "order_of_intent",
    "order_ref_for_checkout",
    "order_stats",
    "order_status",
    "order_to_dict",
    "orders_for_checkout_or_intent",
    "queue_owner_new_order",
    "record_subscription",
    "refund_order",
    "subscription_changed",
]
