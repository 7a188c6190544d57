"""What payments offers the rest of tillpoint.

Payments: the gateway protocol and its types, the Stripe and sandbox gateways, payment
attempts, saved customers and methods, velocity and risk checks, webhook intake.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.payments.attempts import (
    FINAL,
    GIVEN_BACK,
    REFUNDED,
    apply_intent,
    claim_refund,
    finish_refund,
    record_attempt,
    settle_for_order,
    unclaim_refund,
)
from tillpoint.payments.backends import build_gateway, require_real_gateway
from tillpoint.payments.customers import (
    customer_for,
    list_saved_methods,
    remove_method,
    save_method,
    start_saving_method,
)
from tillpoint.payments.gateway import (
    CreateIntent,
    GatewayRejected,
    IntentStatus,
    PaymentGateway,
    PaymentIntentResult,
    RecurringPrice,
    RefundResult,
    SavedPaymentMethod,
    SubscriptionResult,
    WebhookEvent,
    idempotency_key,
)
from tillpoint.payments.models import PaymentAttempt, PaymentCustomer
from tillpoint.payments.risk import held_for_review
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.payments.velocity import AttemptKeys, check_velocity
from tillpoint.payments.webhooks import Apply, Handler, WebhookRoutes, process_webhook

__all__ = [
    "FINAL",
    "GIVEN_BACK",
    "REFUNDED",
    "Apply",
    "AttemptKeys",
    "CreateIntent",
    "GatewayRejected",
    "Handler",
    "IntentStatus",
    "PaymentAttempt",
    "PaymentCustomer",
    "PaymentGateway",
    "PaymentIntentResult",
    "RecurringPrice",
    "RefundResult",
    "SandboxGateway",
    "SavedPaymentMethod",
    "SubscriptionResult",
    "WebhookEvent",
    "WebhookRoutes",
    "apply_intent",
    "build_gateway",
    "check_velocity",
    "claim_refund",
    "customer_for",
    "finish_refund",
    "held_for_review",
    "idempotency_key",
    "list_saved_methods",
    "process_webhook",
    "record_attempt",
    "remove_method",
    "require_real_gateway",
    "save_method",
    "settle_for_order",
    "start_saving_method",
    "unclaim_refund",
]
