"""Orders for staff: the filtered, searchable list (keyset cursor), today's numbers for
the dashboard, and one order's whole story (its audit trail as ``history``).

``status`` as staff read it is the payment's status (``orders.status``) unless the order
was cancelled, then ``cancelled``; ``payment_status`` is always the payment's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from tillpoint.audit.models import AuditLog
from tillpoint.errors import FieldError, InvalidInput
from tillpoint.money_format import format_money
from tillpoint.orders.models import Order
from tillpoint.runtime import Runtime

CURSOR_PATTERN = r"^[0-9]{1,16}\.ord_[0-9A-Za-z]{22}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OrderFilters:
    """Every filter is optional; given ones all apply. ``created_from`` is inclusive,
    ``created_to`` exclusive; ``q`` is an order-number or e-mail prefix, any case."""

    status: str | None = None
    payment_status: str | None = None
    fulfillment_status: str | None = None
    email: str | None = None
    number: str | None = None
    q: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderCursor:
    """A position in the list (created_at, then id, both descending): ``<µs>.<id>``.
    New orders sort before every page already read, so pages stay stable under inserts."""

    created_at: datetime
    id: str

    def __str__(self) -> str:
        return f"{(self.created_at - _EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def parse(cls, text: str) -> OrderCursor:
        if not re.fullmatch(CURSOR_PATTERN, text):
            raise InvalidInput(
                "Unknown cursor: pass a next_cursor this listing gave.", code="invalid_cursor",
                fields=[FieldError(("query", "cursor"), "invalid_cursor", "unknown cursor")],
            )  # fmt: skip
        micros, order_id = text.split(".", 1)
        return cls(_EPOCH + timedelta(microseconds=int(micros)), order_id)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def _filtered(f: OrderFilters) -> Select[Order]:
    query = select(Order)
    if f.status == "cancelled":
        query = query.where(Order.cancelled_at.is_not(None))
    elif f.status is not None:
        query = query.where(Order.status == f.status, Order.cancelled_at.is_(None))
    if f.payment_status is not None:
        query = query.where(Order.status == f.payment_status)
    if f.fulfillment_status is not None:
        query = query.where(Order.fulfillment_status == f.fulfillment_status)
    if f.email is not None:
        query = query.where(func.lower(Order.email) == f.email.lower())
    if f.number is not None:
        query = query.where(Order.number == f.number.upper())
    if f.q:
        query = query.where(
            or_(
                Order.number.like(_like_prefix(f.q.upper()), escape="\\"),
                func.lower(Order.email).like(_like_prefix(f.q.lower()), escape="\\"),
            )
        )
    if f.created_from is not None:
        query = query.where(Order.created_at >= f.created_from)
    if f.created_to is not None:
        query = query.where(Order.created_at < f.created_to)
    return query


async def list_admin_orders(
    rt: Runtime, filters: OrderFilters, *, limit: int, before: OrderCursor | None
) -> tuple[list[Order], OrderCursor | None]:
    """One page of matching orders, newest first, and the next page's cursor."""
    query = _filtered(filters)
    if before is not None:
        query = query.where(
            or_(
                Order.created_at < before.created_at,
                and_(Order.created_at == before.created_at, Order.id < before.id),
            )
        )
    query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    async with rt.db.transaction() as s:
        rows = list((await s.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return rows, (OrderCursor(last.created_at, last.id) if last is not None else None)


@dataclass(frozen=True, slots=True)
class OrderStats:
    today_orders: int
    today_revenue: list[tuple[str, int]]  # (currency, amount paid less refunds)
    awaiting_fulfillment: int


async def order_stats(rt: Runtime) -> OrderStats:
    """Orders placed today (UTC) and their revenue per currency; orders still to ship
    (not cancelled, not fully refunded, not fulfilled)."""
    now = rt.clock.now().astimezone(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = Order.created_at >= start
    async with rt.db.transaction() as s:
        count = await s.scalar(select(func.count()).select_from(Order).where(today))
        revenue = await s.execute(
            select(Order.currency, func.sum(Order.total - Order.refunded_total))
            .where(today)
            .group_by(Order.currency)
            .order_by(Order.currency)
        )
        waiting = await s.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.fulfillment_status.in_(["unfulfilled", "partially_fulfilled"]),
                Order.status != "refunded",
            )
        )
    return OrderStats(int(count or 0), [(c, int(a or 0)) for c, a in revenue], int(waiting or 0))


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    action: str
    actor: str | None
    summary: str


def _money(meta: dict[str, Any], locale: str) -> str:
    amount, currency = meta.get("amount"), meta.get("currency")
    if isinstance(amount, int) and isinstance(currency, str) and len(currency) == 3:
        return format_money(amount, currency, locale)
    return f"{amount} {currency or ''}".strip()  # an entry written before currencies


def _summary(row: AuditLog, locale: str) -> str:
    meta = row.meta or {}
    restocked = meta.get("restocked") or []
    times = "\N{MULTIPLICATION SIGN}"
    back = ", ".join(f"{r.get('quantity')} {times} {r.get('sku')}" for r in restocked)
    if row.event_type == "refund_created":
        return f"Refunded {_money(meta, locale)}" + (f"; restocked {back}" if back else "")
    if row.event_type == "order_fulfilled":
        return f"Shipped with {meta.get('carrier')}, tracking {meta.get('tracking_number')}"
    if row.event_type == "order_cancelled":
        return "Cancelled" + (f"; restocked {back}" if back else "")
    return row.event_type.replace("_", " ").capitalize()


async def order_history(rt: Runtime, order_id: str) -> list[HistoryEntry]:
    """The order's audit trail, oldest first."""
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(AuditLog)
            .where(AuditLog.entity_id == order_id)
            .order_by(AuditLog.timestamp, AuditLog.chain, AuditLog.seq)
        )
        locale = rt.settings.shop_locale
        return [
            HistoryEntry(r.timestamp, r.event_type, r.user_id, _summary(r, locale)) for r in rows
        ]
