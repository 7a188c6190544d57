"""The order's emails (confirmation, shipped, refund, and the owner's new-order notice)
built from what the order records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.config import Settings
from tillpoint.mail.kinds import (
    EmailDiscount,
    EmailLine,
    OrderConfirmation,
    OrderShipped,
    OwnerNewOrder,
    PostalAddress,
    RefundIssued,
)
from tillpoint.mail.render import absolute_url
from tillpoint.mail.send import queue_email
from tillpoint.orders.models import Order, OrderLine, Refund
from tillpoint.orders.service import OrderDraft, order_access_token


def order_link(settings: Settings, order_id: str) -> str:
    """The order's page with its access token: opens for a guest who closed the tab."""
    token = order_access_token(settings, order_id)
    return absolute_url(settings, f"/orders/{quote(order_id)}?token={quote(token)}")


def discount_lines(
    promotions: Iterable[Mapping[str, Any]], total: int
) -> tuple[EmailDiscount, ...]:
    """One line per coupon or promotion (its item and shipping parts together). If the
    parts do not add up to the order's discount, one honest "Discount" line instead."""
    lines = tuple(
        EmailDiscount(
            str(p.get("code") or "Promotion"),
            int(p.get("amount") or 0) + int(p.get("shipping_amount") or 0),
        )
        for p in promotions
    )
    lines = tuple(d for d in lines if d.amount)
    if sum(d.amount for d in lines) != total:
        return (EmailDiscount("Discount", total),) if total else ()
    return lines


def confirmation_email(
    settings: Settings, draft: OrderDraft, order_id: str, number: str
) -> OrderConfirmation:
    """The confirmation of an order just written from ``draft``."""
    # total = subtotal - discount + shipping (+ tax unless prices include it)
    before_tax = draft.subtotal - draft.discount_total + draft.shipping_total
    method = draft.shipping_method or {}
    return OrderConfirmation(
        number=number,
        currency=draft.currency,
        lines=tuple(
            EmailLine(line.name, line.quantity, line.unit_price, line.amount, sku=line.sku)
            for line in draft.lines
        ),
        discounts=discount_lines(draft.meta.get("promotions") or [], draft.discount_total),
        subtotal=draft.subtotal,
        shipping=draft.shipping_total,
        tax=draft.tax_total,
        total=draft.total,
        tax_included=draft.tax_total > 0 and draft.total == before_tax,
        order_url=order_link(settings, order_id),
        shipping_method=str(method.get("name") or "") or None,
        shipping_address=PostalAddress.from_mapping(draft.shipping_address),
        billing_address=PostalAddress.from_mapping(draft.billing_address),
    )


def _email_lines(shipped: Iterable[tuple[OrderLine, int]]) -> tuple[EmailLine, ...]:
    return tuple(
        EmailLine(line.name, q, line.unit_price, line.unit_price * q, sku=line.sku)
        for line, q in shipped
    )


def shipped_email(
    settings: Settings,
    order: Order,
    *,
    carrier: str,
    tracking_number: str,
    tracking_url: str | None = None,
    shipped: Sequence[tuple[OrderLine, int]] | None = None,
) -> OrderShipped:
    """The "on its way" email for a shipment of ``shipped`` (line, units); None: the
    whole order (its lines must be loaded)."""
    if shipped is not None:
        return OrderShipped(
            number=order.number, carrier=carrier, tracking_number=tracking_number,
            tracking_url=tracking_url, order_url=order_link(settings, order.id),
            lines=_email_lines(shipped),
            shipping_address=PostalAddress.from_mapping(order.shipping_address),
        )  # fmt: skip
    return OrderShipped(
        number=order.number,
        carrier=carrier,
        tracking_number=tracking_number,
        tracking_url=tracking_url,
        order_url=order_link(settings, order.id),
        lines=tuple(
            EmailLine(line.name, line.quantity, line.unit_price, line.amount, sku=line.sku)
            for line in order.lines
        ),
        shipping_address=PostalAddress.from_mapping(order.shipping_address),
    )


def refund_email(
    settings: Settings,
    order: Order,
    amount: int,
    reason: str | None,
    lines: Sequence[tuple[OrderLine, int]] = (),
) -> RefundIssued:
    """The refund email, after ``amount`` was added to the order's ``refunded_total``;
    ``lines``: the units a refund by line names."""
    return RefundIssued(
        number=order.number,
        currency=order.currency,
        amount=amount,
        refunded_total=order.refunded_total,
        order_total=order.total,
        order_url=order_link(settings, order.id),
        reason=reason,
        lines=_email_lines(lines),
    )


def queue_shipped(
    s: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    carrier: str,
    tracking_number: str,
    tracking_url: str | None,
    now: datetime,
    shipped: Sequence[tuple[OrderLine, int]] | None = None,
    dedupe: str | None = None,
) -> None:
    """Queue the "on its way" email of a shipment of ``shipped`` (None: the whole
    order); one per ``dedupe`` (the shipment's id), else per tracking number."""
    data = shipped_email(
        settings, order, carrier=carrier, tracking_number=tracking_number,
        tracking_url=tracking_url, shipped=shipped,
    )  # fmt: skip
    queue_email(
        s, settings, data, recipient=order.email,
        dedupe_key=f"order_shipped:{order.id}:{dedupe or tracking_number}"[:255],
        refs={"order_id": order.id, "number": order.number}, now=now,
    )  # fmt: skip


def queue_refund(
    s: AsyncSession,
    settings: Settings,
    order: Order,
    refund: Refund,
    now: datetime,
    lines: Sequence[tuple[OrderLine, int]] = (),
) -> None:
    """Queue the email of a refund that succeeded (``lines``: the units it names)."""
    data = refund_email(settings, order, refund.amount, refund.reason, lines)
    queue_email(
        s, settings, data, recipient=order.email, dedupe_key=f"refund_issued:{refund.id}",
        refs={"order_id": order.id, "refund_id": refund.id}, now=now,
    )  # fmt: skip


def owner_new_order_email(
    settings: Settings, draft: OrderDraft, order_id: str, number: str, *, held: bool
) -> OwnerNewOrder:
    """The shop owner's notice of an order just written from ``draft``."""
    method = draft.shipping_method or {}
    return OwnerNewOrder(
        number=number,
        currency=draft.currency,
        lines=tuple(
            EmailLine(line.name, line.quantity, line.unit_price, line.amount, sku=line.sku)
            for line in draft.lines
        ),
        total=draft.total,
        admin_url=absolute_url(settings, f"/admin/orders/{quote(order_id)}"),
        customer_email=draft.email,
        shipping_method=str(method.get("name") or "") or None,
        shipping_address=PostalAddress.from_mapping(draft.shipping_address),
        held_for_review=held,
    )


def queue_owner_new_order(
    s: AsyncSession,
    settings: Settings,
    draft: OrderDraft,
    order_id: str,
    number: str,
    *,
    held: bool,
    now: datetime,
) -> None:
    """Queue the owner's new-order notice in the order's own unit of work (nothing
    when ``owner_email`` is unset)."""
    if not settings.owner_email:
        return
    queue_email(
        s, settings, owner_new_order_email(settings, draft, order_id, number, held=held),
        recipient=settings.owner_email, dedupe_key=f"owner_new_order:{order_id}",
        refs={"order_id": order_id, "number": number}, now=now,
    )  # fmt: skip
