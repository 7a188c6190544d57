"""Pick the gateway the settings ask for: Stripe with a key, the offline sandbox without
(outside production only: production mode never runs the sandbox)."""

from __future__ import annotations

import hashlib
import hmac
import weakref

from tillpoint.config import Mode, Settings, UnsafeForProduction, require_production_ready
from tillpoint.payments.gateway import PaymentGateway
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.payments.stripe_gateway import StripeGateway
from tillpoint.runtime import Runtime


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


# --- the gateway of a runtime ------------------------------------------------------------

# Keyed by the runtime's identity (a Runtime is an unhashable dataclass); the weak
# reference lets a finished runtime's entry be recognised and replaced.
_GATEWAYS: dict[int, tuple[weakref.ref[Runtime], PaymentGateway]] = {}


def bind_gateway(rt: Runtime, gateway: PaymentGateway) -> None:
    """Make ``gateway`` the one effects and jobs running on ``rt`` use (set by create_app)."""
    for key in [k for k, (ref, _) in _GATEWAYS.items() if ref() is None]:
        del _GATEWAYS[key]
    _GATEWAYS[id(rt)] = (weakref.ref(rt), gateway)


def gateway_of(rt: Runtime) -> PaymentGateway:
    """The gateway bound to ``rt``, or a new one from its settings (CLI sweeps)."""
    found = _GATEWAYS.get(id(rt))
    if found is not None and found[0]() is rt:
        return found[1]
    gateway = build_gateway(rt.settings)
    bind_gateway(rt, gateway)
    return gateway
