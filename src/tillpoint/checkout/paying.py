"""Which checkout is paying for a cart. From CONFIRM_ORDER (the cart re-priced under its
row lock, its stock and coupons held, the PaymentIntent made for that total) until the
payment ends — it failed (``payment_failed``), its checkout expired, or it became an
order — the order will be made from the lines that were paid for: a change to the cart
then would be lost with it. So every change to a cart asks this first, under the cart's
row lock (CONFIRM_ORDER takes the same lock), and is refused while a checkout is paying.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.checkout.machine import State
from tillpoint.checkout.models import Checkout

# The payment is in flight (at the gateway, or at the bank's 3-D Secure challenge), or it
# was taken and the order is being made.
PAYING_STATES = frozenset(
    {State.payment_processing, State.payment_requires_action, State.payment_success}
)

_PAYING = (
    select(Checkout.id, Checkout.state)
    .where(
        Checkout.cart_id == bindparam("cart_id"),
        Checkout.state.in_(sorted(s.value for s in PAYING_STATES)),
    )
    .limit(1)
)


async def paying_checkout(s: AsyncSession, cart_id: str) -> tuple[str, str] | None:
    """``(checkout id, state)`` of the checkout paying for ``cart_id``, if one is."""
    row = (await s.execute(_PAYING, {"cart_id": cart_id})).first()
    return (str(row[0]), str(row[1])) if row is not None else None
