"""How a session ends: completed by its order (inside the order's unit of work, through
the checkout's action table), or expired (by the API or the sweeper), each with its
outbound webhook event; and the guard that lets only one of a session's carts pay.

Lock order: the session's row is locked before the coupon and stock rows (it is taken
first in CONFIRM_ORDER's and PROCEED_TO_CONFIRMATION's effects), and no path holding it
waits for a checkout's row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tillpoint.audit.service import SYSTEM, Actor
from tillpoint.checkout.public import EffectCall, expire_cart_checkouts
from tillpoint.checkout_sessions.models import CheckoutSession, CheckoutSessionCart
from tillpoint.checkout_sessions.service import (
    COMPLETE,
    EXPIRED,
    OPEN,
    audit,
    load_session,
    session_data,
)
from tillpoint.errors import Conflict
from tillpoint.orders.public import Order, order_event_data
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import CheckoutSessionEventData, EventType, emit_event


async def session_of_cart(s: AsyncSession, cart_id: str) -> str | None:
    return await s.scalar(
        select(CheckoutSessionCart.checkout_session_id).where(
            CheckoutSessionCart.cart_id == cart_id
        )
    )


async def carts_of(s: AsyncSession, cs_id: str) -> list[str]:
    rows = await s.scalars(
        select(CheckoutSessionCart.cart_id)
        .where(CheckoutSessionCart.checkout_session_id == cs_id)
        .order_by(CheckoutSessionCart.cart_id)
    )
    return list(rows)


def _not_open() -> Conflict:
    return Conflict("This checkout session is no longer open.", code="checkout_session_not_open")


async def _refuse_if_another_pays(
    rt: Runtime, s: AsyncSession, cs_id: str, cart_id: str | None
) -> None:
    for other in await carts_of(s, cs_id):
        if other != cart_id and await rt.paying(s, other) is not None:
            raise Conflict(
                "A payment for this purchase is already in progress in another window.",
                code="checkout_session_in_progress",
            )


async def claim_for_payment(call: EffectCall) -> None:
    """CONFIRM_ORDER of a session's cart: the session must be open and no other cart of it
    paying (its row locked first, so two carts confirming at once take turns)."""
    cs_id = await session_of_cart(call.s, call.checkout.cart_id)
    if cs_id is None:
        return
    row = await load_session(call.s, cs_id, lock=True)
    if row.status != OPEN or row.expires_at <= call.rt.clock.now():
        raise _not_open()
    await _refuse_if_another_pays(call.rt, call.s, cs_id, call.checkout.cart_id)


async def lock_for_order(call: EffectCall) -> None:
    """PROCEED_TO_CONFIRMATION: lock the cart's session row before the order's rows."""
    cs_id = await session_of_cart(call.s, call.checkout.cart_id)
    if cs_id is not None:
        await load_session(call.s, cs_id, lock=True)


async def complete_on_order(call: EffectCall) -> None:
    """After ``create_order``: the session is complete with this order (at most one: the
    unique ``order_id``), its totals become the order's, and ``checkout.session.completed``
    is queued in the same transaction."""
    ref = call.context.order
    cs_id = await session_of_cart(call.s, call.checkout.cart_id)
    if cs_id is None or ref is None:
        return
    row = await load_session(call.s, cs_id, lock=True)
    if row.order_id == ref.id:
        return
    if row.order_id is not None:
        raise Conflict("This checkout session already has an order.", code="checkout_session_paid")
    order = await call.s.scalar(
        select(Order).options(selectinload(Order.lines)).where(Order.id == ref.id)
    )
    assert order is not None
    _fill_from_order(row, order)
    row.completed_at = call.rt.clock.now()
    await call.s.flush()
    await audit(call.rt, call.s, row, "completed", call.actor)
    data = CheckoutSessionEventData(
        checkout_session=session_data(row, ""), order=order_event_data(order)
    )
    await emit_event(call.s, EventType.checkout_session_completed, data, now=row.completed_at)


def _fill_from_order(row: CheckoutSession, order: Order) -> None:
    own = {(line["product_id"], line["variant_id"]): line for line in row.lines}
    row.status = COMPLETE
    row.order_id, row.order_number = order.id, order.number
    row.amount_subtotal, row.amount_discount = order.subtotal, order.discount_total
    row.amount_shipping, row.amount_tax = order.shipping_total, order.tax_total
    row.amount_total = order.total
    row.lines = [
        {
            **own.get((line.product_id, line.variant_id), {}),
            "product_id": line.product_id, "variant_id": line.variant_id,
            "sku": None if own.get((line.product_id, line.variant_id), {}).get("price_data")
            else line.sku,
            "name": line.name, "quantity": line.quantity, "unit_amount": line.unit_price,
            "amount_total": line.total,
        }
        for line in order.lines
    ]  # fmt: skip


async def _mark_expired(rt: Runtime, s: AsyncSession, row: CheckoutSession, actor: Actor) -> None:
    row.status = EXPIRED
    row.expired_at = rt.clock.now()
    await s.flush()
    await audit(rt, s, row, "expired", actor)
    data = CheckoutSessionEventData(checkout_session=session_data(row, ""), order=None)
    await emit_event(s, EventType.checkout_session_expired, data, now=row.expired_at)


async def expire_session(rt: Runtime, cs_id: str, *, actor: Actor = SYSTEM) -> CheckoutSession:
    """Expire an open session now (409 ``checkout_session_not_open`` otherwise, and
    ``checkout_session_in_progress`` while a payment for it runs); its carts' checkouts
    expire too, which releases their stock and coupon holds."""
    async with rt.db.transaction() as s:
        row = await load_session(s, cs_id, lock=True)
        if row.status != OPEN:
            raise _not_open()
        await _refuse_if_another_pays(rt, s, cs_id, None)
        carts = await carts_of(s, cs_id)
        await _mark_expired(rt, s, row, actor)
    for cart_id in carts:
        await expire_cart_checkouts(rt, cart_id)
    return row


async def expire_due_sessions(rt: Runtime, *, batch: int = 200) -> int:
    """The sweep job: open sessions past ``expires_at`` expire (one transaction each; a
    session whose payment is running is left for the payment to finish)."""
    now = rt.clock.now()
    due = (CheckoutSession.status == OPEN, CheckoutSession.expires_at <= now)
    async with rt.db.transaction() as s:
        ids = list(
            await s.scalars(
                select(CheckoutSession.id).where(*due).order_by(CheckoutSession.id).limit(batch)
            )
        )
    expired = 0
    for cs_id in ids:
        async with rt.db.transaction() as s:
            q = select(CheckoutSession).where(CheckoutSession.id == cs_id, *due)
            row = await s.scalar(q.with_for_update(skip_locked=True))
            if row is None:
                continue
            try:
                await _refuse_if_another_pays(rt, s, cs_id, None)
            except Conflict:
                continue
            carts = await carts_of(s, cs_id)
            await _mark_expired(rt, s, row, SYSTEM)
        for cart_id in carts:
            await expire_cart_checkouts(rt, cart_id)
        expired += 1
    return expired
