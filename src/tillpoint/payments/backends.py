"""Pick the gateway the settings ask for: Stripe with a key, the offline sandbox without
(outside production only: production mode never runs the sandbox)."""

from __future__ import annotations

import hashlib
import hmac

from tillpoint.config import Mode, Settings, UnsafeForProduction, require_production_ready
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
    """The configured gateway; one per app instance (the sandbox keeps its state in it).

    Raises :class:`UnsafeForProduction` for production settings without a real gateway.
    """
    require_production_ready(settings)
    if settings.uses_stripe:
        return StripeGateway(settings)
    return SandboxGateway(
        sandbox_webhook_secret(settings), delivery_delay=settings.sandbox_webhook_delay_seconds
    )


def require_real_gateway(settings: Settings, gateway: PaymentGateway) -> None:
    """Production takes money: refuse the offline sandbox there, however it was chosen
    (a gateway handed to the app is not built from the settings)."""
    require_production_ready(settings)
    if settings.mode is Mode.production and isinstance(gateway, SandboxGateway):
        raise UnsafeForProduction(
            "The offline sandbox gateway takes no money and is refused in production mode."
        )
