"""What checkout offers the rest of tillpoint.

The purchase workflow: start a checkout, send it events, read it back; the handlers the
composition root puts in the action table; payment confirmation, sync and recovery; order
completion.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.checkout.commands import CheckoutCommand
from tillpoint.checkout.completion import create_order
from tillpoint.checkout.coupon_steps import (
    hold_checkout_coupons,
    release_checkout_coupons,
    release_lapsed_holds,
)
from tillpoint.checkout.effects import ActionTable, EffectCall, check_handlers
from tillpoint.checkout.machine import Event, to_dot, to_mermaid
from tillpoint.checkout.paying import paying_checkout
from tillpoint.checkout.payment_confirmation import confirm_payment, payment_intent_for
from tillpoint.checkout.payment_recovery import finalize_stuck_payments
from tillpoint.checkout.payment_steps import (
    check_payment,
    handle_payment_failure,
    handle_payment_refund,
    handle_payment_success,
    initiate_payment,
    refresh_payment_status,
    request_customer_action,
)
from tillpoint.checkout.payment_sync import SyncResult, apply_intent_event
from tillpoint.checkout.service import (
    adopt_checkouts,
    expire_cart_checkouts,
    expire_checkouts,
    get_checkout,
    send_event,
    shipping_options,
    start_checkout,
)
from tillpoint.checkout.stock_steps import extend_for_customer_action, release_stock, reserve_stock
from tillpoint.checkout.views import CheckoutOut, CheckoutView

__all__ = [
    "ActionTable",
    "CheckoutCommand",
    "CheckoutOut",
    "CheckoutView",
    "EffectCall",
    "Event",
    "SyncResult",
    "adopt_checkouts",
    "apply_intent_event",
    "check_handlers",
    "check_payment",
    "confirm_payment",
    "create_order",
    "expire_cart_checkouts",
    "expire_checkouts",
    "extend_for_customer_action",
    "finalize_stuck_payments",
    "get_checkout",
    "handle_payment_failure",
    "handle_payment_refund",
    "handle_payment_success",
    "hold_checkout_coupons",
    "initiate_payment",
    "paying_checkout",
    "payment_intent_for",
    "refresh_payment_status",
    "release_checkout_coupons",
    "release_lapsed_holds",
    "release_stock",
    "request_customer_action",
    "reserve_stock",
    "send_event",
    "shipping_options",
    "start_checkout",
    "to_dot",
    "to_mermaid",
]
