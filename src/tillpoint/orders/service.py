"""Order use cases: insert an order from a paid checkout (inside finalize's unit of work),
read orders (owner, same session, or the guest's access token) and list a user's history.

The guest access token is derived (HMAC of the order id with the app secret), so any
path that creates the order — browser, webhook, sweeper — gives the same token, and
only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.auth.public import SessionContext
from tillpoint.config import Settings
from tillpoint.errors import FieldError, InvalidInput, NotFound
from tillpoint.ids import is_valid_id, new_id
from tillpoint.orders.models import Fulfillment, Order, OrderLine, OrderPayment, Refund
from tillpoint.orders.numbers import new_order_number
from tillpoint.orders.queries import insert_order_claiming_number
from tillpoint.orders.tax_record import queue_sale
from tillpoint.payments.public import PaymentIntentResult
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import EventType, OrderData, OrderLineData, OrderTotals, emit_event


@dataclass(frozen=True, slots=True)
class LineDraft:
    product_id: str
    variant_id: str | None
    name: str
    quantity: int
    unit_price: int
    amount: int
    discount: int
    tax: int
    total: int
    sku: str | None = None
    cart_item_id: str | None = None
    recurring: dict[str, Any] | None = None
    tax_category: str = "standard"  # the product's, for the tax provider's record


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """Everything an order copies from its checkout at the moment it was paid."""

    checkout_id: str
    currency: str
    subtotal: int
    discount_total: int
    shipping_total: int
    tax_total: int
    total: int
    lines: tuple[LineDraft, ...]
    shipping_paid: int = 0  # the shipping line's total (what a refund may give back)
    cart_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    email: str | None = None
    shipping_address: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None
    shipping_method: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def order_access_token(settings: Settings, order_id: str) -> str:
    """The token a guest shows to read their order (stable per order)."""
    key = settings.resolved_secret_key.encode()
    return hmac.new(key, f"order-access:{order_id}".encode(), hashlib.sha256).hexdigest()[:40]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def order_for_checkout(s: AsyncSession, checkout_id: str) -> Order | None:
    return await s.scalar(select(Order).where(Order.checkout_id == checkout_id))


# The finalize path only asks "is there an order?": one narrow SELECT, not the Order with
# its lines, payments and refunds (three more statements through ``selectin``).
async def order_ref_for_checkout(s: AsyncSession, checkout_id: str) -> tuple[str, str] | None:
    """``(id, number)`` of the checkout's order, if any."""
    row = (
        await s.execute(select(Order.id, Order.number).where(Order.checkout_id == checkout_id))
    ).first()
    return (row[0], row[1]) if row is not None else None


async def order_id_for_intent(s: AsyncSession, intent_id: str) -> str | None:
    return await s.scalar(select(Order.id).where(Order.payment_intent_id == intent_id))


@dataclass(frozen=True, slots=True)
class OrderRef:
    id: str
    number: str
    checkout_id: str
    payment_intent_id: str


async def orders_for_checkout_or_intent(
    s: AsyncSession, checkout_id: str, intent_id: str
) -> list[OrderRef]:
    """The orders made for ``checkout_id`` or paid by ``intent_id`` (at most one each):
    order creation's two "already done?" questions in one narrow SELECT."""
    rows = await s.execute(
        _FOR_CHECKOUT_OR_INTENT, {"checkout_id": checkout_id, "intent_id": intent_id}
    )
    found = {row[0]: OrderRef(*row) for row in rows}  # one order may answer both
    return list(found.values())


# Two unique-index lookups, not one ``OR``: PostgreSQL plans that OR as a scan of the whole
# table whenever its statistics are missing or stale (seen under load: a seq scan of
# orders at every payment), while each half stays an index lookup.
_ORDER_REF = select(Order.id, Order.number, Order.checkout_id, Order.payment_intent_id)
_FOR_CHECKOUT_OR_INTENT = union_all(
    _ORDER_REF.where(Order.checkout_id == bindparam("checkout_id")),
    _ORDER_REF.where(Order.payment_intent_id == bindparam("intent_id")),
)


def is_recurring(spec: Any) -> bool:
    """An order line's ``recurring`` spec that asks for a subscription."""
    return isinstance(spec, dict) and bool(spec.get("interval"))


async def order_of_intent(s: AsyncSession, intent_id: str) -> tuple[str, bool] | None:
    """``(order id, has recurring lines)`` of the order ``intent_id`` paid, if any: one
    SELECT (the webhook's "is it done already?")."""
    rows = (
        await s.execute(
            select(Order.id, OrderLine.recurring)
            .outerjoin(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.payment_intent_id == intent_id)
        )
    ).all()
    if not rows:
        return None
    return rows[0][0], any(is_recurring(row[1]) for row in rows)


def _order_values(
    settings: Settings,
    order_id: str,
    draft: OrderDraft,
    intent: PaymentIntentResult,
    *,
    held_for_review: bool,
    now: datetime,
) -> dict[str, Any]:
    """The order row's values (ORM attribute names; the number is added by the caller)."""
    return {
        "id": order_id,
        "checkout_id": draft.checkout_id,
        "payment_intent_id": intent.id,
        "cart_id": draft.cart_id,
        "session_id": draft.session_id,
        "user_id": draft.user_id,
        "email": draft.email,
        "status": "held_for_review" if held_for_review else "paid",
        "currency": draft.currency,
        "subtotal": draft.subtotal,
        "discount_total": draft.discount_total,
        "shipping_total": draft.shipping_total,
        "tax_total": draft.tax_total,
        "total": draft.total,
        "refunded_total": 0,
        "shipping_address": draft.shipping_address,
        "billing_address": draft.billing_address,
        "shipping_method": draft.shipping_method,
        "shipping_refundable": draft.shipping_paid,
        "shipping_refunded": 0,
        "risk_level": intent.risk_level,
        "access_token_hash": _token_hash(order_access_token(settings, order_id)),
        "meta": dict(draft.meta),
        "created_at": now,
        "updated_at": now,
    }


def _line_values(draft: OrderDraft) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id("ol"),
            "position": pos,
            "cart_item_id": line.cart_item_id,
            "product_id": line.product_id,
            "variant_id": line.variant_id,
            "sku": line.sku,
            "name": line.name[:200],
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "amount": line.amount,
            "discount": line.discount,
            "tax": line.tax,
            "total": line.total,
            "refunded_amount": 0,
            "restocked_quantity": 0,
            "recurring": line.recurring,
        }
        for pos, line in enumerate(draft.lines)
    ]


def _payment_values(gateway: str, intent: PaymentIntentResult, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("pay"),
        "gateway": gateway,
        "account": intent.account,
        "payment_intent_id": intent.id,
        "amount": intent.amount,
        "currency": intent.currency,
        "status": intent.status.value,
        "risk_level": intent.risk_level,
        "card_brand": intent.card_brand,
        "card_last4": intent.card_last4,
        "created_at": now,
    }


@dataclass(frozen=True, slots=True)
class InsertedOrder:
    """What :func:`insert_order_rows` wrote that its caller reads back."""

    id: str
    number: str
    status: str
    email: str | None
    total: int
    currency: str


_ORDER_LINES = cast(Table, OrderLine.__table__)
_PAYMENTS = cast(Table, OrderPayment.__table__)


async def insert_order_rows(
    s: AsyncSession,
    settings: Settings,
    draft: OrderDraft,
    intent: PaymentIntentResult,
    *,
    gateway: str,
    held_for_review: bool,
    now: datetime,
) -> InsertedOrder:
    """Write the order, its lines and its payment in Core statements (no ORM objects to
    flush): the order's INSERT also claims its number (``ON CONFLICT (number) DO NOTHING``:
    a number already taken tries another, with no SELECT before), its lines go in one
    INSERT, then its payment.

    The caller holds the checkout's row lock and has checked that no order exists for
    the checkout or the intent; the unique constraints stop a second one regardless.
    """
    order_id = new_id("ord")
    values = _order_values(
        settings, order_id, draft, intent, held_for_review=held_for_review, now=now
    )
    values["metadata"] = values.pop("meta")  # the column's name
    statement = insert_order_claiming_number(s)
    while True:
        number = new_order_number()
        if (await s.execute(statement, {**values, "number": number})).first() is not None:
            break
    lines = _line_values(draft)
    if lines:
        await s.execute(_ORDER_LINES.insert(), [{**line, "order_id": order_id} for line in lines])
    await s.execute(
        _PAYMENTS.insert(), {**_payment_values(gateway, intent, now), "order_id": order_id}
    )
    await _emit_order_events(s, draft, order_id, number, values["status"], now)
    # The tax provider's record of the sale, sent by the sweeper after this commits.
    tax_sale = {**values, "number": number}
    queue_sale(s, settings, tax_sale, lines, [ln.tax_category for ln in draft.lines], now)
    return InsertedOrder(
        order_id, number, values["status"], draft.email, draft.total, draft.currency
    )


async def _emit_order_events(
    s: AsyncSession, draft: OrderDraft, order_id: str, number: str, status: str, now: datetime
) -> None:
    """``order.created``, and ``order.paid`` unless the order is held for review (it is
    paid for then, but not yet accepted)."""
    data = OrderData(
        id=order_id, number=number, status=status, currency=draft.currency, email=draft.email,
        totals=OrderTotals(
            subtotal=draft.subtotal, discount=draft.discount_total,
            shipping=draft.shipping_total, tax=draft.tax_total, total=draft.total, refunded=0,
        ),
        lines=[
            OrderLineData(
                product_id=line.product_id, variant_id=line.variant_id, sku=line.sku,
                name=line.name[:200], quantity=line.quantity, unit_price=line.unit_price,
                total=line.total,
            )
            for line in draft.lines
        ],
        created_at=now,
    )  # fmt: skip
    await emit_event(s, EventType.order_created, data, now=now)
    if status == "paid":
        await emit_event(s, EventType.order_paid, data, now=now)


def order_status(order: Order) -> str:
    """The payment's status, unless the order was cancelled."""
    return "cancelled" if order.cancelled_at is not None else order.status


def order_event_data(order: Order) -> OrderData:
    """An order as its webhook events carry it (its lines must be loaded)."""
    return OrderData(
        id=order.id, number=order.number, status=order_status(order), currency=order.currency,
        email=order.email,
        totals=OrderTotals(
            subtotal=order.subtotal, discount=order.discount_total,
            shipping=order.shipping_total, tax=order.tax_total, total=order.total,
            refunded=order.refunded_total,
        ),
        lines=[
            OrderLineData(
                product_id=line.product_id, variant_id=line.variant_id, sku=line.sku,
                name=line.name, quantity=line.quantity, unit_price=line.unit_price,
                total=line.total,
            )
            for line in order.lines
        ],
        created_at=order.created_at,
    )  # fmt: skip


def can_read(order: Order, session: SessionContext | None, token: str | None) -> bool:
    """Owner (user), the session that placed it, or a holder of its access token."""
    if session is not None:
        if order.user_id is not None and order.user_id == session.user_id:
            return True
        if order.session_id is not None and order.session_id == session.session_id:
            return True
    return token is not None and hmac.compare_digest(_token_hash(token), order.access_token_hash)


async def get_order(
    rt: Runtime, order_id: str, *, session: SessionContext | None, token: str | None
) -> Order:
    """The order if the caller may see it; 404 otherwise (never reveals that it exists)."""
    if not is_valid_id(order_id, "ord"):
        raise NotFound("No such order.", code="order_not_found")
    async with rt.db.transaction() as s:
        order = await s.get(Order, order_id)
        if order is None or not can_read(order, session, token):
            raise NotFound("No such order.", code="order_not_found")
        return order


async def get_order_as_admin(rt: Runtime, order_id: str) -> Order:
    """Any order, for staff (the route checks the admin role)."""
    async with rt.db.transaction() as s:
        order = (
            await s.get(Order, order_id, populate_existing=True)
            if is_valid_id(order_id, "ord")
            else None
        )
        if order is None:
            raise NotFound("No such order.", code="order_not_found")
        return order


async def get_order_for_checkout(
    rt: Runtime, checkout_id: str, *, session: SessionContext
) -> Order:
    """The order a checkout became, for the session that placed it (404 otherwise)."""
    async with rt.db.transaction() as s:
        order = await order_for_checkout(s, checkout_id)
        if order is None or not can_read(order, session, None):
            raise NotFound("No order for this checkout yet.", code="order_not_found")
        return order


async def list_orders(
    rt: Runtime, user_id: str, *, limit: int = 20, before: str | None = None
) -> tuple[list[Order], str | None]:
    """A registered user's orders, newest first, with a cursor (the last order's id)."""
    async with rt.db.transaction() as s:
        q = select(Order).where(Order.user_id == user_id)
        if before is not None:
            anchor = await s.get(Order, before)
            if anchor is None or anchor.user_id != user_id:
                raise InvalidInput(
                    "Unknown cursor: pass a next_cursor this listing gave.",
                    code="invalid_cursor",
                    fields=[FieldError(("query", "cursor"), "invalid_cursor", "unknown cursor")],
                )
            q = q.where(
                (Order.created_at < anchor.created_at)
                | ((Order.created_at == anchor.created_at) & (Order.id < anchor.id))
            )
        rows = list(
            await s.scalars(q.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1))
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def order_to_dict(order: Order, *, access_token: str | None = None) -> dict[str, Any]:
    """The public JSON shape of an order (money in minor units)."""
    payment = order.payments[0] if order.payments else None
    data: dict[str, Any] = {
        "id": order.id,
        "number": order.number,
        "status": order.status,
        "checkout_id": order.checkout_id,
        "currency": order.currency,
        "email": order.email,
        "totals": {
            "subtotal": order.subtotal,
            "discount": order.discount_total,
            "shipping": order.shipping_total,
            "tax": order.tax_total,
            "total": order.total,
            "refunded": order.refunded_total,
        },
        "lines": [_line_to_dict(line) for line in order.lines],
        "shipping_address": order.shipping_address,
        "billing_address": order.billing_address,
        "shipping_method": order.shipping_method,
        "payment": None if payment is None else _payment_to_dict(payment),
        "refunds": [_refund_to_dict(r) for r in order.refunds],
        "fulfillment_status": order.fulfillment_status,
        "fulfillments": [_fulfillment_to_dict(f) for f in order.fulfillments],
        "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else None,
        "created_at": order.created_at.isoformat(),
    }
    if access_token is not None:
        data["access_token"] = access_token
    return data


def _line_to_dict(line: OrderLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "product_id": line.product_id,
        "variant_id": line.variant_id,
        "sku": line.sku,
        "name": line.name,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "amount": line.amount,
        "discount": line.discount,
        "tax": line.tax,
        "total": line.total,
        "refunded": line.refunded_amount,
        "shipped": line.shipped_quantity,
        "recurring": line.recurring,
    }


def _payment_to_dict(payment: OrderPayment) -> dict[str, Any]:
    return {
        "gateway": payment.gateway,
        "status": payment.status,
        "amount": payment.amount,
        "card_brand": payment.card_brand,
        "card_last4": payment.card_last4,
    }


def _refund_to_dict(r: Refund) -> dict[str, Any]:
    return {
        "id": r.id,
        "amount": r.amount,
        "status": r.status,
        "reason": r.reason,
        "restock": r.restock,
        "allocation": r.allocation,
        "restocked": list(r.restocked or []),
        "created_at": r.created_at.isoformat(),
    }


def _fulfillment_to_dict(f: Fulfillment) -> dict[str, Any]:
    return {
        "id": f.id,
        "carrier": f.carrier,
        "tracking_number": f.tracking_number,
        "tracking_url": f.tracking_url,
        "lines": [{"line_id": ln.order_line_id, "quantity": ln.quantity} for ln in f.lines],
        "created_at": f.created_at.isoformat(),
    }
