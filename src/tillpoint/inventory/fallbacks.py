"""The seed's StockFallbackConfig: backorder (in ``stock.check_in``), substitutes, waitlist.

Waitlist entries are notified exactly once: the notification row is unique per entry and
is written in the same transaction that marks the entry notified, together with the email
that tells the shopper (a ``back_in_stock`` message in the outbox, which the sweeper
delivers through the configured sender).
"""

from __future__ import annotations

from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.catalog.public import Product, is_product_id
from tillpoint.config import Settings
from tillpoint.errors import FieldError, InvalidInput, NotFound
from tillpoint.ids import new_id
from tillpoint.inventory.models import InventoryItem, StockNotification, WaitlistEntry
from tillpoint.inventory.stock import (
    Substitute,
    backorder_enabled,
    row_for,
    stock_rows,
)
from tillpoint.mail.kinds import BackInStock
from tillpoint.mail.render import absolute_url, render_email
from tillpoint.outbox import service as outbox
from tillpoint.runtime import Runtime

# How many products of the same category/tags are looked at for substitutes.
_CANDIDATES = 200


async def suggest_substitutes(
    rt: Runtime, s: AsyncSession, product: Product, quantity: int
) -> list[Substitute]:
    """Active products sharing the category or a tag that can supply ``quantity`` now,
    most similar first (same category, then most shared tags), cheapest price-distance next."""
    limit = rt.settings.inventory_substitutes_limit
    if limit == 0:
        return []
    candidates = list(
        await s.scalars(
            select(Product)
            .where(Product.active.is_(True), Product.id != product.id)
            .order_by(Product.id)
            .limit(_CANDIDATES)
        )
    )
    tags = set(product.tags or [])
    related = [c for c in candidates if c.category == product.category or tags & set(c.tags or [])]
    rows = await stock_rows(s, [(c.id, None) for c in related])
    scored: list[tuple[tuple[int, int, int], Substitute]] = []
    for c in related:
        product_rows = [r for (pid, _), r in rows.items() if pid == c.id]
        if product_rows:
            available = sum(r.available for r in product_rows)
            if available < quantity and not any(backorder_enabled(rt, r) for r in product_rows):
                continue
            shown: int | None = available
        else:
            shown = None
        score = (
            0 if c.category == product.category else 1,
            -len(tags & set(c.tags or [])),
            abs(c.price - product.price),
        )
        scored.append((score, Substitute(c.id, c.sku, c.name, c.price, c.currency, shown)))
    scored.sort(key=lambda pair: pair[0])
    return [sub for _, sub in scored[:limit]]


async def join_waitlist(
    rt: Runtime, product_id: str, email: str, *, variant_id: str | None = None
) -> WaitlistEntry:
    """Leave an email to be told once when this product (or variant) is back in stock.
    Joining twice before being notified returns the same entry."""
    if not rt.settings.inventory_waitlist_enabled:
        raise InvalidInput("The waitlist is switched off.", code="waitlist_disabled")
    try:
        # Lower-cased whole: one person, one entry, however they typed it.
        normalized = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(
            "That email address is not valid.",
            code="invalid_email",
            fields=[FieldError(("email",), "invalid_email", str(exc))],
        ) from None
    async with rt.db.transaction() as s:
        product = await s.get(Product, product_id) if is_product_id(product_id) else None
        if product is None:
            raise NotFound("No such product.", code="product_not_found")
        row = row_for(await stock_rows(s, [(product_id, variant_id)]), (product_id, variant_id))
        if row is None:
            raise InvalidInput(
                "This product is not stock-tracked, so it is always available.",
                code="not_tracked",
            )
        existing = await s.scalar(
            select(WaitlistEntry).where(
                WaitlistEntry.inventory_id == row.id,
                WaitlistEntry.email == normalized,
                WaitlistEntry.notified_at.is_(None),
            )
        )
        if existing is not None:
            return existing
        entry = WaitlistEntry(
            id=new_id("wait"),
            inventory_id=row.id,
            product_id=product_id,
            variant_id=variant_id,
            email=normalized,
            created_at=rt.clock.now(),
        )
        s.add(entry)
        return entry


async def notify_waitlist_in(
    s: AsyncSession, settings: Settings, rows: list[InventoryItem], at: datetime
) -> int:
    """Queue one notification per waiting entry of these rows that now have stock, and mark
    the entries notified, in the unit of work ``s``. Returns how many were queued."""
    ids = sorted(r.id for r in rows if r.available > 0)
    if not ids:
        return 0
    q = (
        select(WaitlistEntry)
        .where(WaitlistEntry.inventory_id.in_(ids), WaitlistEntry.notified_at.is_(None))
        .order_by(WaitlistEntry.id)
        .with_for_update(skip_locked=True)
    )
    entries = list(await s.scalars(q))
    names = await _product_names(s, {e.product_id for e in entries})
    for entry in entries:
        entry.notified_at = at
        note_id = new_id("note")
        s.add(
            StockNotification(
                id=note_id,
                waitlist_entry_id=entry.id,
                email=entry.email,
                product_id=entry.product_id,
                variant_id=entry.variant_id,
                created_at=at,
            )
        )
        name = names.get(entry.product_id, "An item you asked about")
        email = render_email(BackInStock(name, absolute_url(settings, "/")), settings)
        outbox.enqueue(
            s,
            kind="back_in_stock",
            dedupe_key=f"back_in_stock:{entry.id}",
            recipient=entry.email,
            payload={
                **email.payload(),
                "product_id": entry.product_id,
                "variant_id": entry.variant_id,
                "notification_id": note_id,
            },
            now=at,
        )
    await s.flush()
    return len(entries)


async def _product_names(s: AsyncSession, product_ids: set[str]) -> dict[str, str]:
    if not product_ids:
        return {}
    rows = await s.execute(select(Product.id, Product.name).where(Product.id.in_(product_ids)))
    return {pid: name for pid, name in rows}


async def notify_waitlists(rt: Runtime) -> int:
    """Sweeper job: notify every waiting entry whose SKU has stock again."""
    async with rt.db.transaction() as s:
        rows = list(
            await s.scalars(
                select(InventoryItem)
                .join(WaitlistEntry, WaitlistEntry.inventory_id == InventoryItem.id)
                .where(
                    WaitlistEntry.notified_at.is_(None),
                    InventoryItem.on_hand > InventoryItem.reserved,
                )
                .distinct()
            )
        )
        return await notify_waitlist_in(s, rt.settings, rows, rt.clock.now())
