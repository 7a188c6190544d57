"""The seed's audit event types, grouped as its AuditLogService groups them."""

from __future__ import annotations

from enum import StrEnum


class CheckoutEventType(StrEnum):
    cart_created = "cart_created"
    item_added = "item_added"
    coupon_applied = "coupon_applied"
    checkout_started = "checkout_started"
    checkout_completed = "checkout_completed"


class PaymentEventType(StrEnum):
    payment_initiated = "payment_initiated"
    payment_succeeded = "payment_succeeded"
    payment_failed = "payment_failed"
    refund_processed = "refund_processed"


class SecurityEventType(StrEnum):
    login_succeeded = "login_succeeded"
    login_failed = "login_failed"
    lockout = "lockout"
    csrf_failed = "csrf_failed"
    rate_limited = "rate_limited"
    webhook_signature_failed = "webhook_signature_failed"
    refresh_token_reuse = "refresh_token_reuse"
    coupon_attempts_exceeded = "coupon_attempts_exceeded"
    reservation_cap_reached = "reservation_cap_reached"
