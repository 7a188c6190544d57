"""The composition root: the one place that builds a runtime and decides what runs.

:func:`build_runtime` opens the database (and Redis), picks the payment gateway, builds
the pricing collaborators (address validation, shipping, tax) and hands the runtime the
checkout's action table and the webhook routes below. Nothing else registers anything:
importing any module of tillpoint has no side effect on what runs, so reading this file
tells which function runs for which machine action and which webhook event.

The runtime carries what the root built as typed fields (``rt.gateway``, ``rt.pricing``,
``rt.actions``, ``rt.webhooks``); ``runtime.py`` names their feature types only under
``TYPE_CHECKING``. Chosen over a checkout-level wiring object because every consumer
(checkout steps, the finalize path, jobs, routers) already receives the runtime, mypy
checks each field at each use, and core still imports no feature at run time.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

import tillpoint.models  # noqa: F401  (every table registered, so foreign keys resolve)
from tillpoint.audit.chain import CHAINS_KEY
from tillpoint.checkout.public import (
    ActionTable,
    apply_intent_event,
    check_handlers,
    check_payment,
    create_order,
    extend_for_customer_action,
    handle_payment_failure,
    handle_payment_refund,
    handle_payment_success,
    hold_checkout_coupons,
    initiate_payment,
    paying_checkout,
    refresh_payment_status,
    release_checkout_coupons,
    release_stock,
    request_customer_action,
    reserve_stock,
)
from tillpoint.checkout_sessions.public import (
    claim_for_payment,
    complete_on_order,
    lock_for_order,
)
from tillpoint.clock import Clock, SystemClock
from tillpoint.config import Settings
from tillpoint.db import Database
from tillpoint.inventory.public import StockFeed
from tillpoint.orders.public import invoice_paid, subscription_changed
from tillpoint.payments.public import Apply, Handler, PaymentGateway, WebhookRoutes, build_gateway
from tillpoint.pricing.public import PricingServices, build_pricing_services
from tillpoint.runtime import Runtime, open_database, open_redis

# Each machine action with side effects (checkout/machine.py) -> what runs for it, in
# order, inside the step's unit of work. The order in a tuple, and of CONFIRM_ORDER's
# actions in the machine, is the lock order: the payment checks (gateway calls) before
# any row lock, then coupon rows, then stock rows, as every other path takes them — a
# different order would let two paths deadlock on PostgreSQL. Actions that only update
# the context are pure functions in checkout/actions.py, not listed here.
ACTION_HANDLERS: ActionTable = {
    "checkPayment": (check_payment,),
    # A checkout session's cart: its session row first (one cart of a session pays).
    "holdCoupons": (claim_for_payment, hold_checkout_coupons),
    "reserveStock": (reserve_stock,),
    "initiatePayment": (initiate_payment,),
    "requestCustomerAction": (extend_for_customer_action, request_customer_action),
    "refreshPaymentStatus": (refresh_payment_status,),
    "handlePaymentSuccess": (handle_payment_success,),
    "handlePaymentFailure": (handle_payment_failure,),
    "createOrder": (lock_for_order, create_order, complete_on_order),
    "releaseReservations": (release_checkout_coupons, release_stock),
    "handlePaymentRefund": (handle_payment_refund,),
}

_INTENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.processing",
    "payment_intent.canceled",
)
_SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)

# Verified webhook event type -> idempotent use cases with their own transactions (the
# checkout's finalize path), run before the event id is recorded.
WEBHOOK_APPLIERS: Mapping[str, tuple[Apply, ...]] = {
    event_type: (apply_intent_event,) for event_type in _INTENT_EVENTS
}
# Verified webhook event type -> handlers run inside the event's own transaction.
WEBHOOK_HANDLERS: Mapping[str, tuple[Handler, ...]] = {
    **{event_type: (subscription_changed,) for event_type in _SUBSCRIPTION_EVENTS},
    "invoice.paid": (invoice_paid,),
    "invoice.payment_succeeded": (invoice_paid,),
}


def build_runtime(
    settings: Settings,
    *,
    gateway: PaymentGateway | None = None,
    clock: Clock | None = None,
    connections: tuple[Database, Redis | None] | None = None,
    pricing: PricingServices | None = None,
    actions: ActionTable = ACTION_HANDLERS,
) -> Runtime:
    """The runtime for ``settings``: the database and Redis opened (``connections``: an
    existing pair to share instead, Redis None for none), the gateway the settings choose
    unless one is given, the pricing collaborators, and the action table — checked here,
    at start-up: a machine action without a handler raises
    :class:`~tillpoint.checkout.effects.MissingHandlers`."""
    check_handlers(actions)
    clock = clock or SystemClock()
    db, redis = connections or (open_database(settings), open_redis(settings))
    # record() sees only its session: the audit chain count travels in session.info.
    db.sessions.configure(info={CHAINS_KEY: settings.audit_chains})
    return Runtime(
        settings=settings,
        db=db,
        redis=redis,
        clock=clock,
        gateway=gateway if gateway is not None else build_gateway(settings),
        pricing=pricing if pricing is not None else build_pricing_services(settings, clock),
        actions=actions,
        webhooks=WebhookRoutes(WEBHOOK_HANDLERS, WEBHOOK_APPLIERS),
        # Stock events fan out through Redis pub/sub when it is configured.
        stock_feed=StockFeed(redis, settings.redis_url),
        paying=paying_checkout,
    )
