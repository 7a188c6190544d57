"""Order creation, the checkout's last step (``createOrder`` on PROCEED_TO_CONFIRMATION).

Inside the checkout's unit of work (its row locked): the order is written through the
orders feature from the totals the customer paid, the stock reservation converts, the
coupon holds are redeemed, the cart is marked converted and the confirmation queued —
all in the same transaction, so a refusal at any point leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import AuditEvent, record
from tillpoint.auth.public import move_sessions_to_next_cart
from tillpoint.cart.public import mark_converted
from tillpoint.catalog.public import Product, ProductVariant
from tillpoint.checkout.context import OrderRef as ContextOrder
from tillpoint.checkout.context import Payment, stored
from tillpoint.checkout.effects import EffectCall
from tillpoint.checkout.payment_steps import account_of, email_for, payment_of
from tillpoint.checkout.stock_steps import reservation_of
from tillpoint.errors import Conflict
from tillpoint.inventory.public import fulfill_reservation
from tillpoint.mail.send import queue_email
from tillpoint.orders.public import (
    InsertedOrder,
    LineDraft,
    OrderDraft,
    OrderRef,
    confirmation_email,
    insert_order_rows,
    is_recurring,
    orders_for_checkout_or_intent,
    queue_owner_new_order,
)
from tillpoint.payments import public as payments_public
from tillpoint.payments.public import IntentStatus, PaymentIntentResult, held_for_review
from tillpoint.promotions.public import redeem_coupon_holds


async def create_order(call: EffectCall) -> None:
    """PROCEED_TO_CONFIRMATION: the order, stock, coupons, cart and email, in one transaction."""
    payment = payment_of(call.context)
    intent_id = payment.intent_id or ""
    # One narrow SELECT answers both "has this checkout an order?" and "has this
    # payment one?" (the unique constraints stop a second order regardless).
    found = await orders_for_checkout_or_intent(call.s, call.checkout.id, intent_id)
    existing = next((o for o in found if o.checkout_id == call.checkout.id), None)
    if existing is not None:
        call.context.order = ContextOrder(id=existing.id, number=existing.number)
        return
    intent = await _paid_intent(call, payment, found)
    draft = await _draft(call, payment)
    held = held_for_review(intent.risk_level, call.rt.settings.payment_risk_threshold)
    now = call.rt.clock.now()
    order = await insert_order_rows(
        call.s, call.rt.settings, draft, intent, gateway=payment.gateway or "sandbox",
        held_for_review=held, now=now,
    )  # fmt: skip
    await _convert_holds(call, draft, order, now)
    _queue_confirmation(call, draft, order, now)
    queue_owner_new_order(
        call.s, call.rt.settings, draft, order.id, order.number, held=held, now=now
    )
    await _record_order(call, order, intent, held, now)
    call.context.order = ContextOrder(
        id=order.id,
        number=order.number,
        status=order.status,
        # Lets the finalize path skip asking for recurring lines (most orders have none).
        recurring=any(is_recurring(line.recurring) for line in draft.lines),
    )


async def _paid_intent(
    call: EffectCall, payment: Payment, found: list[OrderRef]
) -> PaymentIntentResult:
    """The checkout's intent as the gateway reads it, if it paid and has no order yet;
    its attempt is settled with it (in this transaction, so a refusal undoes it too)."""
    rt = call.rt
    intent_id = payment.intent_id
    if not intent_id or payment.status != IntentStatus.succeeded.value:
        raise Conflict("The payment has not succeeded.", code="payment_not_succeeded")
    intent = await rt.gateway.retrieve_payment_intent(intent_id, account=account_of(payment))
    # The order and its attempt agree from the same commit: the webhook that would also
    # mark it comes a second or more later (it then finds it final). Applied before the
    # checks below in one statement: any refusal rolls it back with everything else.
    attempt_status = await payments_public.settle_for_order(call.s, intent, rt.clock.now())
    if attempt_status in payments_public.GIVEN_BACK:
        raise Conflict("This payment was refunded: no order.", code="payment_refunded")
    if intent.status is not IntentStatus.succeeded:
        raise Conflict("The payment has not succeeded.", code="payment_not_succeeded")
    if any(o.payment_intent_id == intent.id for o in found):
        raise Conflict("This payment already has an order.", code="payment_already_used")
    return intent


async def _convert_holds(
    call: EffectCall, draft: OrderDraft, order: InsertedOrder, now: datetime
) -> None:
    """Stock and coupon usage convert in the order's own transaction: all or nothing; the
    cart stays with this order only."""
    rt, s, row = call.rt, call.s, call.checkout
    reservation = reservation_of(call.context)
    if reservation is not None:
        await fulfill_reservation(rt, s, reservation)
    coupon_ids = [
        str(p["coupon_id"]) for p in draft.meta.get("promotions", []) if p.get("coupon_id")
    ]
    # The uses held at CONFIRM_ORDER become the order's (or are claimed afresh if lapsed).
    await redeem_coupon_holds(
        s, coupon_ids, checkout_id=row.id, order_id=order.id, user_id=row.user_id,
        email=draft.email, at=now,
    )  # fmt: skip
    # The sessions holding the cart get a new empty one.
    await move_sessions_to_next_cart(rt, s, await mark_converted(s, row.cart_id))


def _queue_confirmation(
    call: EffectCall, draft: OrderDraft, order: InsertedOrder, now: datetime
) -> None:
    """The confirmation email (text and HTML), sent by the outbox after the order commits."""
    settings = call.rt.settings
    queue_email(
        call.s, settings, confirmation_email(settings, draft, order.id, order.number),
        recipient=order.email, dedupe_key=f"order_confirmation:{order.id}",
        refs={"order_id": order.id, "number": order.number}, now=now,
        locale=call.context.locale,
    )  # fmt: skip


async def _record_order(
    call: EffectCall,
    order: InsertedOrder,
    intent: PaymentIntentResult,
    held: bool,
    now: datetime,
) -> None:
    await record(
        call.s,
        AuditEvent(
            "order_created", "order", order.id, "create",
            {"checkout_id": call.checkout.id, "number": order.number, "total": order.total,
             "currency": order.currency, "payment_intent_id": intent.id,
             "held_for_review": held},
        ),
        call.actor,
        now,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Named:
    """What an order line copies from the catalog (as ``Sellable`` names it)."""

    name: str
    sku: str
    meta: dict[str, Any]
    tax_category: str = "standard"


# Products with the wanted variants (a variant counts only under its own product, as
# ``sellables_for`` resolves it): columns, not ORM objects, on the order's hot path.
_LINE_NAMES = (
    select(
        Product.id,
        Product.name,
        Product.sku,
        Product.meta,
        Product.tax_category,
        ProductVariant.id,
        ProductVariant.name,
        ProductVariant.sku,
    )
    .select_from(Product)
    .outerjoin(
        ProductVariant,
        and_(
            ProductVariant.product_id == Product.id,
            ProductVariant.id.in_(bindparam("variant_ids", expanding=True)),
        ),
    )
    .where(Product.id.in_(bindparam("product_ids", expanding=True)))
)


async def _line_names(
    s: AsyncSession, keys: list[tuple[str, str | None]]
) -> dict[tuple[str, str | None], _Named]:
    """Name, SKU and metadata of each (product, variant) line that still exists."""
    product_ids = sorted({p for p, _ in keys})
    if not product_ids:
        return {}
    variant_ids = sorted({v for _, v in keys if v}) or [""]
    rows = await s.execute(_LINE_NAMES, {"product_ids": product_ids, "variant_ids": variant_ids})
    products: dict[str, tuple[str, str, dict[str, Any], str]] = {}
    variants: dict[tuple[str, str], tuple[str, str]] = {}
    for pid, pname, psku, pmeta, category, vid, vname, vsku in rows:
        products[pid] = (pname, psku, dict(pmeta or {}), category or "standard")
        if vid is not None:
            variants[(pid, vid)] = (vname, vsku)
    out: dict[tuple[str, str | None], _Named] = {}
    for pid, vid in keys:
        product = products.get(pid)
        if product is None:
            continue
        name, sku, meta, category = product
        variant = variants.get((pid, vid)) if vid else None
        if variant is not None:
            name, sku = f"{name} — {variant[0]}", variant[1]
        out[(pid, vid)] = _Named(name, sku, meta, category)
    return out


async def _draft(call: EffectCall, payment: Payment) -> OrderDraft:
    """The order's content from the totals the customer agreed to and paid."""
    totals = payment.totals or {}
    ctx, row = call.context, call.checkout
    lines_json = list(totals.get("lines") or [])
    keys = [(str(line["product_id"]), line.get("variant_id")) for line in lines_json]
    named = await _line_names(call.s, keys)
    lines = []
    for line in lines_json:
        found = named.get((line["product_id"], line.get("variant_id")))
        meta = found.meta if found else {}
        lines.append(
            LineDraft(
                product_id=line["product_id"],
                variant_id=line.get("variant_id"),
                name=found.name if found else str(line["product_id"]),
                sku=found.sku if found else None,
                cart_item_id=line.get("line_id"),
                quantity=int(line["quantity"]),
                unit_price=int(line["unit_price"]),
                amount=int(line["amount"]),
                discount=int(line["discount"]),
                tax=int(line["tax"]),
                total=int(line["total"]),
                recurring=meta.get("recurring")
                if isinstance(meta.get("recurring"), dict)
                else None,
                tax_category=found.tax_category if found else "standard",
            )
        )
    shipping_line = totals.get("shipping_line") or {}
    return OrderDraft(
        checkout_id=row.id,
        currency=str(totals.get("currency") or payment.currency),
        subtotal=int(totals.get("subtotal", 0)),
        discount_total=int(totals.get("discount", 0)),
        shipping_total=int(totals.get("shipping", 0)),
        tax_total=int(totals.get("tax", 0)),
        total=int(totals.get("total", payment.amount or 0)),
        lines=tuple(lines),
        shipping_paid=int(shipping_line.get("total", 0)),
        cart_id=row.cart_id,
        session_id=row.session_id,
        user_id=row.user_id,
        email=await email_for(call),
        shipping_address=stored(ctx.shipping_address),
        billing_address=stored(ctx.billing_address),
        shipping_method=stored(ctx.shipping_method),
        meta={"attempt": payment.attempt, "promotions": totals.get("promotions", [])},
    )
