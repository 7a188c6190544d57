"""Hooks for the machine's actions with side effects (stock, payment, order).

Other features register an async function for an action name; the checkout service
runs every function registered for the transition's actions, in registration order,
inside the unit of work that moves the checkout (row locked), *before* the new state
is saved. A function may update ``call.context`` (saved with the state) or raise a
``TillpointError`` to refuse the event — then nothing of the step is kept — or
:class:`RefuseKeeping` to refuse it but keep what it changed (the checkout stays where
it was, re-priced).

Action names (see ``checkout/machine.py``): ``holdCoupons``, ``reserveStock`` and
``initiatePayment`` (CONFIRM_ORDER → payment_processing), ``requestCustomerAction``,
``refreshPaymentStatus``, ``handlePaymentSuccess``, ``handlePaymentFailure``,
``createOrder`` (PROCEED_TO_CONFIRMATION), ``handlePaymentRefund`` (PAYMENT_REFUNDED),
``releaseReservations`` (EXPIRE, PAYMENT_REFUNDED),
``mergeGuestCart`` (LOGIN_SUCCEEDED), ``updateCartItems``, ``applyCoupon``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor
from tillpoint.checkout.machine import Event, State
from tillpoint.checkout.models import Checkout
from tillpoint.errors import TillpointError
from tillpoint.pricing.totals import OrderTotal
from tillpoint.promotions.discount_types import PricingLine
from tillpoint.runtime import Runtime


@dataclass
class EffectCall:
    """What an effect sees: the locked row, the step, and the context it may update."""

    rt: Runtime
    s: AsyncSession
    checkout: Checkout
    event: Event
    source: State
    target: State
    payload: dict[str, Any]
    context: dict[str, Any]
    actor: Actor
    totals: OrderTotal | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # CONFIRM_ORDER: the cart's lines and version as the step read them under the cart's
    # row lock (effects use them instead of loading the cart again).
    cart_lines: tuple[PricingLine, ...] | None = None
    cart_version: int | None = None


class RefuseKeeping(Exception):
    """Refuse the event with ``error`` yet commit what the effect changed (e.g. a coupon
    that ran out taken off the cart); ``notices`` join the checkout's answer. Raise it
    before any other effect of the step has written (the step's effects are not undone)."""

    def __init__(self, error: TillpointError, notices: list[dict[str, Any]]) -> None:
        super().__init__(error.message)
        self.error = error
        self.notices = notices


Effect = Callable[[EffectCall], Awaitable[None]]

_REGISTRY: dict[str, list[Effect]] = {}


def register_effect(action: str, effect: Effect, *, first: bool = False) -> None:
    """Run ``effect`` whenever a transition with ``action`` is taken (idempotent); ``first``
    puts it ahead of the others (e.g. to take row locks in the order other paths do)."""
    effects = _REGISTRY.setdefault(action, [])
    if effect not in effects:
        effects.insert(0 if first else len(effects), effect)


def unregister_effect(action: str, effect: Effect) -> None:
    effects = _REGISTRY.get(action, [])
    if effect in effects:
        effects.remove(effect)


def has_effects(actions: tuple[str, ...]) -> bool:
    """Whether any function is registered for one of ``actions``."""
    return any(_REGISTRY.get(action) for action in actions)


async def run_effects(actions: tuple[str, ...], call: EffectCall) -> None:
    for action in actions:
        for effect in list(_REGISTRY.get(action, ())):
            await effect(call)
