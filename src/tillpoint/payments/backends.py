"""Pick the gateway the settings ask for: Stripe with a key, the offline sandbox without."""

from __future__ import annotations

import hashlib
import hmac

from tillpoint.config import Settings
from tillpoint.payments.gateway import PaymentGateway
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.payments.stripe_gateway import StripeGateway


def sandbox_webhook_secret(settings: Settings) -> str:
    """The sandbox's signing secret: configured, or derived from the app's secret key."""
    if settings.sandbox_webhook_secret:
        return settings.sandbox_webhook_secret
    key = settings.resolved_secret_key.encode()
    return "whsec_" + hmac.new(key, b"sandbox-webhook", hashlib.sha256).hexdigest()


def build_gateway(settings: Settings) -> PaymentGateway:
    """The configured gateway; one per app instance (the sandbox keeps its state in it)."""
    if settings.uses_stripe:
        return StripeGateway(settings)
    return SandboxGateway(
        sandbox_webhook_secret(settings), delivery_delay=settings.sandbox_webhook_delay_seconds
    )
