"""What the machine's actions with side effects (stock, coupons, payment, order) see
and how they run.

The composition root (``tillpoint/bootstrap.py``) builds the one table from action name
to handlers (:data:`ActionTable`) and puts it on the runtime; the checkout service runs
every handler of the transition's actions, in the table's order, inside the unit of
work that moves the checkout (row locked), *before* the new state is saved. A handler
may update ``call.context`` (saved with the state) or raise a ``TillpointError`` to
refuse the event — then nothing of the step is kept — or :class:`RefuseKeeping` to
refuse it but keep what it changed (the checkout stays where it was, re-priced).
Actions that only update the context are pure functions (``checkout/actions.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor
from tillpoint.cart.public import CartOwner
from tillpoint.checkout import machine
from tillpoint.checkout.actions import ACTIONS
from tillpoint.checkout.context import CheckoutContext
from tillpoint.checkout.machine import Event, State
from tillpoint.checkout.models import Checkout
from tillpoint.errors import TillpointError
from tillpoint.pricing.public import OrderTotal
from tillpoint.promotions.public import PricingLine
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
    # The step's one context (loaded once, saved once): handlers replace its parts,
    # never change a part in place (the context before the step shares them).
    context: CheckoutContext
    actor: Actor
    totals: OrderTotal | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # CONFIRM_ORDER: the cart's lines and version as the step read them under the cart's
    # row lock (effects use them instead of loading the cart again).
    cart_lines: tuple[PricingLine, ...] | None = None
    cart_version: int | None = None
    # ... and who owns the cart (its customer, else its guest session): the stock cap's owner.
    cart_owner: CartOwner | None = None


class RefuseKeeping(Exception):
    """Refuse the event with ``error`` yet commit what the effect changed (e.g. a coupon
    that ran out taken off the cart); ``notices`` join the checkout's answer. Raise it
    before any other effect of the step has written (the step's effects are not undone)."""

    def __init__(self, error: TillpointError, notices: list[dict[str, Any]]) -> None:
        super().__init__(error.message)
        self.error = error
        self.notices = notices


Effect = Callable[[EffectCall], Awaitable[None]]
# Action name -> its handlers, in the order they run (which is the lock order).
ActionTable = Mapping[str, tuple[Effect, ...]]


class MissingHandlers(RuntimeError):
    """The machine names an action that nothing handles: refused at start-up."""


def check_handlers(table: ActionTable) -> None:
    """Every action the machine names is a pure action or has handlers in ``table``."""
    missing = sorted(machine.actions_used() - set(ACTIONS) - set(table))
    if missing:
        raise MissingHandlers(
            "The checkout machine names actions without a handler: "
            + ", ".join(missing)
            + " (add them to bootstrap.ACTION_HANDLERS or checkout/actions.py)."
        )


def has_effects(table: ActionTable, actions: tuple[str, ...]) -> bool:
    """Whether ``table`` has a handler for one of ``actions``."""
    return any(table.get(action) for action in actions)


async def run_effects(actions: tuple[str, ...], call: EffectCall) -> None:
    """Run the handlers of ``actions``, in order, from the runtime's table."""
    table = call.rt.actions
    for action in actions:
        for effect in table.get(action, ()):
            await effect(call)
