"""Stock in the checkout: the checkout's effects that hold, extend and release the
stock of its cart through inventory's reservations.

- ``reserveStock`` (CONFIRM_ORDER): reserve the cart's lines, all or none (409
  ``out_of_stock`` refuses the event), for the reservation TTL, within what one owner
  may hold (``cart/stock_hold.py``: 409 ``reservation_cap_reached``). A still-active reservation
  of the same cart version is kept; otherwise a new one is made (id
  ``<checkout id>:r<n>``) and older holds of the cart are released. The id is kept in
  ``context.reservation``.
- ``requestCustomerAction`` (3-D Secure pending): extend the reservation.
- ``releaseReservations`` (EXPIRE, PAYMENT_REFUNDED): give the units back at once.

Fulfilling happens inside the order's transaction (``checkout/completion.py``).
"""

from __future__ import annotations

import contextlib

from tillpoint.cart.public import Cart, CartOwner, held_by_owner
from tillpoint.checkout.context import CheckoutContext, Reservation
from tillpoint.checkout.effects import EffectCall
from tillpoint.db import savepoint
from tillpoint.errors import Conflict
from tillpoint.inventory.public import (
    ACTIVE,
    ReservationClosed,
    ReservationNotFound,
    StockRequest,
    check_hold_cap,
    extend_reservation,
    get_reservation_in,
    release_other_holds,
    release_reservation,
    reserve_inventory,
)


def reservation_of(context: CheckoutContext) -> str | None:
    """The id of the checkout's current stock reservation, if it has one."""
    held = context.reservation
    return held.id if held is not None else None


async def reserve_stock(call: EffectCall) -> None:
    """CONFIRM_ORDER: hold the cart's stock (or refuse the event with ``out_of_stock``)."""
    rt, s = call.rt, call.s
    cart_id = call.checkout.cart_id
    owner = call.cart_owner
    if call.cart_lines is not None and call.cart_version is not None:
        # The lines the step read under the cart's row lock.
        version = call.cart_version
        items = [StockRequest(ln.product_id, ln.quantity, ln.variant_id) for ln in call.cart_lines]
    else:
        cart = await s.get(Cart, cart_id)
        version = cart.version if cart is not None else 0
        items = (
            [StockRequest(i.product_id, i.quantity, i.variant_id) for i in cart.items]
            if cart
            else []
        )
        if cart is not None:
            owner = CartOwner(cart.id, cart.user_id, cart.session_id)
    if not items:
        raise Conflict("The cart is empty.", code="cart_empty")
    held = call.context.reservation or Reservation()
    rid = held.id
    if rid is not None and held.cart_version == version:
        try:
            current = await get_reservation_in(s, rid)
        except ReservationNotFound:
            current = None
        if current is not None and current.status == ACTIVE:
            return  # the same cart is still held (CONFIRM_ORDER again after a refusal)
    if owner is not None:  # the stock is held until the payment ends: cap it as a hold
        lines = [(i.product_id, i.variant_id, i.quantity) for i in items]
        await check_hold_cap(rt, s, lines, await held_by_owner(rt, s, owner))
    attempt = (held.attempt or 0) + 1
    new_id = f"{call.checkout.id}:r{attempt}"
    await release_other_holds(rt, s, cart_id, keep=new_id)
    # No SAVEPOINT: a refusal here (out of stock) refuses the whole step, whose unit of
    # work then rolls back; nothing goes on after it in this transaction.
    res = await reserve_inventory(rt, s, items, new_id, reference=cart_id)
    call.context.reservation = Reservation(
        id=res.id, attempt=attempt, cart_version=version, expires_at=res.expires_at.isoformat()
    )


async def extend_for_customer_action(call: EffectCall) -> None:
    """3-D Secure pending: keep the stock while the customer authenticates."""
    held = call.context.reservation
    if held is None or held.id is None:
        return
    rid = held.id
    try:
        res = await savepoint(call.s, extend_reservation(call.rt, call.s, rid))
    except (ReservationClosed, ReservationNotFound):
        return  # nothing to keep; fulfilling later re-takes the units or refuses
    call.context.reservation = held.updated({"expires_at": res.expires_at.isoformat()})


async def release_stock(call: EffectCall) -> None:
    """EXPIRE: give the checkout's units back at once."""
    rid = reservation_of(call.context)
    if rid is not None:
        with contextlib.suppress(ReservationNotFound):
            await savepoint(call.s, release_reservation(call.rt, call.s, rid))
