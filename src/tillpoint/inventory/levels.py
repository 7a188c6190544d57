"""Setting stock: admin adjustments (absolute or delta, with a reason), external levels from
a provider sync or webhook, the low-stock list, and the demo seed.

Every change commits with its audit row, queues waitlist notifications when a SKU comes
back, and publishes a stock event after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.catalog.public import Product, ProductVariant, is_product_id
from tillpoint.errors import FieldError, InvalidInput, NotFound
from tillpoint.ids import new_id
from tillpoint.inventory.fallbacks import notify_waitlist_in
from tillpoint.inventory.feed import StockChange, publish_after_commit
from tillpoint.inventory.low_stock import announce_low_stock, crossing
from tillpoint.inventory.models import InventoryItem
from tillpoint.runtime import Runtime

# Absolute levels above this are surely a typo (or an attack on the integer column).
MAX_ON_HAND = 10_000_000


@dataclass(frozen=True, slots=True)
class StockRow:
    """A SKU's full stock record, as admins see it."""

    product_id: str
    variant_id: str | None
    sku: str
    on_hand: int
    reserved: int
    available: int
    backorder_allowed: bool
    backorder_estimate: str | None
    restock_date: date | None
    low_stock_threshold: int
    updated_at: datetime


def stock_row(row: InventoryItem) -> StockRow:
    return StockRow(
        product_id=row.product_id,
        variant_id=row.variant_id,
        sku=row.sku,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=row.available,
        backorder_allowed=row.backorder_allowed,
        backorder_estimate=row.backorder_estimate,
        restock_date=row.restock_date,
        low_stock_threshold=row.low_stock_threshold,
        updated_at=row.updated_at,
    )


def change_of(row: InventoryItem, at: datetime) -> StockChange:
    return StockChange(
        row.product_id,
        row.variant_id,
        row.sku,
        row.on_hand,
        row.reserved,
        row.backorder_allowed,
        at,
    )


async def _locked_row(
    s: AsyncSession, product_id: str, variant_id: str | None
) -> InventoryItem | None:
    q = select(InventoryItem).where(InventoryItem.product_id == product_id)
    q = q.where(
        InventoryItem.variant_id == variant_id
        if variant_id is not None
        else InventoryItem.variant_id.is_(None)
    )
    return await s.scalar(q.with_for_update().execution_options(populate_existing=True))


async def _sku_of(s: AsyncSession, product_id: str, variant_id: str | None) -> str:
    product = await s.get(Product, product_id) if is_product_id(product_id) else None
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    if variant_id is None:
        return product.sku
    variant = next((v for v in product.variants if v.id == variant_id), None)
    if variant is None:
        raise InvalidInput(
            "That variant does not belong to this product.",
            code="variant_not_found",
            fields=[FieldError(("variant_id",), "variant_not_found", "unknown variant")],
        )
    return variant.sku


@dataclass(frozen=True, slots=True)
class _Change:
    """What one stock adjustment asks: a new level or a move, and settings to change."""

    on_hand: int | None
    delta: int | None
    backorder_allowed: bool | None
    backorder_estimate: str | None
    restock_date: date | None
    low_stock_threshold: int | None

    @property
    def kind(self) -> str:
        if self.on_hand is not None:
            return "set"
        return "adjust" if self.delta is not None else "configure"


async def adjust_stock(
    rt: Runtime,
    product_id: str,
    *,
    reason: str,
    variant_id: str | None = None,
    on_hand: int | None = None,
    delta: int | None = None,
    backorder_allowed: bool | None = None,
    backorder_estimate: str | None = None,
    restock_date: date | None = None,
    low_stock_threshold: int | None = None,
    actor: Actor = SYSTEM,
) -> StockRow:
    """Set a SKU's stock to ``on_hand`` or move it by ``delta`` (exactly one of them, or
    neither to change only the settings), recording ``reason`` in the audit log. The
    first adjustment of an untracked product starts tracking it. A delta may not take
    on-hand stock below zero (422 ``negative_stock``)."""
    change = _Change(
        on_hand, delta, backorder_allowed, backorder_estimate, restock_date, low_stock_threshold
    )
    _check_change(change, reason)
    try:
        return await _adjust_once(rt, product_id, variant_id, change, reason, actor)
    except IntegrityError:
        # Two first adjustments of one SKU raced to create its row: the loser retries
        # and finds the row.
        return await _adjust_once(rt, product_id, variant_id, change, reason, actor)


def _check_change(change: _Change, reason: str) -> None:
    if (change.on_hand is not None) and (change.delta is not None):
        raise InvalidInput("Send on_hand or delta, not both.", code="on_hand_or_delta")
    if change.on_hand is not None and not 0 <= change.on_hand <= MAX_ON_HAND:
        raise InvalidInput(
            "on_hand must be between 0 and 10,000,000.",
            code="negative_stock" if change.on_hand < 0 else "stock_too_large",
            fields=[FieldError(("on_hand",), "out_of_range", "0..10000000")],
        )
    if not reason.strip():
        raise InvalidInput(
            "Say why the stock changes.",
            code="reason_required",
            fields=[FieldError(("reason",), "required", "a reason is required")],
        )


async def _adjust_once(
    rt: Runtime,
    product_id: str,
    variant_id: str | None,
    change: _Change,
    reason: str,
    actor: Actor,
) -> StockRow:
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        row = await _locked_row(s, product_id, variant_id)
        before = None if row is None else row.on_hand
        if row is None:
            sku = await _sku_of(s, product_id, variant_id)
            row = _new_item(product_id, variant_id, sku, now, rt.settings.low_stock_threshold)
            s.add(row)
        before_available = None if before is None else before - row.reserved
        _apply_change(row, change)
        row.updated_at = now
        await s.flush()
        await notify_waitlist_in(s, rt.settings, [row], now)  # its row locks before the audit head
        await _announce_if_low(rt, s, row, before_available, now)
        meta = {"reason": reason, "before": before, "after": row.on_hand, "delta": change.delta}
        await record(
            s,
            AuditEvent("stock_adjusted", "inventory", row.sku, change.kind, meta),
            actor,
            now,
        )
        publish_after_commit(rt.stock_feed, s, [change_of(row, now)])
        return stock_row(row)


async def _announce_if_low(
    rt: Runtime, s: AsyncSession, row: InventoryItem, before: int | None, now: datetime
) -> None:
    """An adjustment that takes a tracked SKU to its threshold tells the owner once (a SKU
    that starts being tracked has no "before" to cross from)."""
    if before is None:
        return
    found = crossing(
        row.product_id, row.variant_id, row.sku, before=before, on_hand=row.on_hand,
        reserved=row.reserved, threshold=row.low_stock_threshold,
    )  # fmt: skip
    if found is not None:
        await announce_low_stock(rt, s, [found], now)


def _new_item(
    product_id: str, variant_id: str | None, sku: str, now: datetime, threshold: int = 5
) -> InventoryItem:
    """The stock row of a SKU that starts being tracked: nothing on hand yet."""
    return InventoryItem(
        id=new_id("inv"),
        product_id=product_id,
        variant_id=variant_id,
        sku=sku,
        on_hand=0,
        reserved=0,
        backorder_allowed=False,
        low_stock_threshold=threshold,
        updated_at=now,
    )


def _apply_change(row: InventoryItem, change: _Change) -> None:
    if change.on_hand is not None:
        row.on_hand = change.on_hand
    if change.delta is not None:
        after = row.on_hand + change.delta
        if after < 0 or after > MAX_ON_HAND:
            raise InvalidInput(
                f"That would leave {after} on hand.",
                code="negative_stock" if after < 0 else "stock_too_large",
                fields=[FieldError(("delta",), "out_of_range", "result must be >= 0")],
            )
        row.on_hand = after
    if change.backorder_allowed is not None:
        row.backorder_allowed = change.backorder_allowed
    if change.backorder_estimate is not None:
        row.backorder_estimate = change.backorder_estimate or None
    if change.restock_date is not None:
        row.restock_date = change.restock_date
    if change.low_stock_threshold is not None:
        row.low_stock_threshold = change.low_stock_threshold


@dataclass(frozen=True, slots=True)
class ExternalLevel:
    """An on-hand level for a SKU reported by an external inventory system."""

    sku: str
    on_hand: int


async def apply_external_levels(
    rt: Runtime, s: AsyncSession, levels: Sequence[ExternalLevel], *, source: str
) -> list[StockRow]:
    """Set on-hand stock of known SKUs from an external system, in the unit of work ``s``.
    Every level is checked first: an unknown SKU or a negative level raises (422) and
    nothing is applied. A catalog SKU not tracked yet starts being tracked."""
    problems = _level_problems(levels)
    skus = sorted({lv.sku for lv in levels})
    rows = {
        r.sku: r
        for r in await s.scalars(
            select(InventoryItem)
            .where(InventoryItem.sku.in_(skus))
            .order_by(InventoryItem.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    catalog = await _catalog_skus(s, [sku for sku in skus if sku not in rows])
    for n, level in enumerate(levels):
        if level.sku not in rows and level.sku not in catalog:
            problems.append(FieldError(("updates", n, "sku"), "unknown_sku", level.sku[:64]))
    if problems:
        raise InvalidInput(
            _LEVEL_MESSAGES[problems[0].code], code=problems[0].code, fields=problems
        )
    now = rt.clock.now()
    for sku, (pid, vid) in catalog.items():
        rows[sku] = _new_item(pid, vid, sku, now, rt.settings.low_stock_threshold)
        s.add(rows[sku])
    changed: dict[str, InventoryItem] = {}
    for level in levels:
        row = rows[level.sku]
        if row.on_hand != level.on_hand or row.sku in catalog:
            before = None if row.sku in catalog else row.on_hand - row.reserved
            row.on_hand = level.on_hand
            row.updated_at = now
            changed[row.sku] = row
            await _announce_if_low(rt, s, row, before, now)
    await s.flush()
    if changed:
        await _record_synced(rt, s, source, changed, now)
    return [stock_row(r) for r in changed.values()]


_LEVEL_MESSAGES = {
    "unknown_sku": "Unknown SKU.",
    "negative_stock": "Stock cannot be negative.",
    "stock_too_large": f"Stock is at most {MAX_ON_HAND}.",
}


def _level_problems(levels: Sequence[ExternalLevel]) -> list[FieldError]:
    problems: list[FieldError] = []
    for n, level in enumerate(levels):
        if isinstance(level.on_hand, bool) or level.on_hand < 0:
            problems.append(
                FieldError(("updates", n, "on_hand"), "negative_stock", "must be 0 or more")
            )
        elif level.on_hand > MAX_ON_HAND:
            problems.append(
                FieldError(("updates", n, "on_hand"), "stock_too_large", f"at most {MAX_ON_HAND}")
            )
    return problems


async def _record_synced(
    rt: Runtime, s: AsyncSession, source: str, changed: dict[str, InventoryItem], now: datetime
) -> None:
    await notify_waitlist_in(s, rt.settings, list(changed.values()), now)  # before the audit head
    levels = {sku: r.on_hand for sku, r in sorted(changed.items())}
    await record(
        s,
        AuditEvent("stock_synced", "inventory", source, "set", {"levels": levels}),
        SYSTEM,
        now,
    )
    publish_after_commit(rt.stock_feed, s, [change_of(r, now) for r in changed.values()])


async def _catalog_skus(s: AsyncSession, skus: list[str]) -> dict[str, tuple[str, str | None]]:
    """Catalog products and variants with these SKUs: SKU -> (product id, variant id)."""
    found: dict[str, tuple[str, str | None]] = {}
    if skus:
        for p in await s.scalars(select(Product).where(Product.sku.in_(skus))):
            found[p.sku] = (p.id, None)
        for v in await s.scalars(select(ProductVariant).where(ProductVariant.sku.in_(skus))):
            found[v.sku] = (v.product_id, v.id)
    return found


async def known_skus(s: AsyncSession, skus: Sequence[str]) -> set[str]:
    """Which of these SKUs we know: tracked already, or in the catalog."""
    wanted = sorted(set(skus))
    tracked = set(await s.scalars(select(InventoryItem.sku).where(InventoryItem.sku.in_(wanted))))
    return tracked | set(await _catalog_skus(s, [x for x in wanted if x not in tracked]))


async def low_stock(rt: Runtime, *, limit: int = 50, after: str | None = None) -> list[StockRow]:
    """SKUs whose available stock is at or below their low-stock threshold, by SKU."""
    async with rt.db.transaction() as s:
        q = (
            select(InventoryItem)
            .where(
                InventoryItem.on_hand - InventoryItem.reserved <= InventoryItem.low_stock_threshold
            )
            .order_by(InventoryItem.sku)
            .limit(limit)
        )
        if after:
            q = q.where(InventoryItem.sku > after)
        return [stock_row(r) for r in await s.scalars(q)]


async def seed_stock(rt: Runtime, levels: dict[str, dict[str, Any]]) -> int:
    """Give catalog SKUs a stock row if they have none (idempotent); returns rows added.
    ``levels`` maps a SKU to its row's fields (``on_hand``, ``backorder_allowed``, ...)."""
    now = rt.clock.now()
    added = 0
    async with rt.db.transaction() as s:
        have = set(await s.scalars(select(InventoryItem.sku)))
        skus = [sku for sku in levels if sku not in have]
        targets = await _catalog_skus(s, skus)
        for sku, (pid, vid) in sorted(targets.items()):
            fields = {
                "on_hand": 0,
                "backorder_allowed": False,
                "low_stock_threshold": rt.settings.low_stock_threshold,
            }
            fields.update(levels[sku])
            s.add(
                InventoryItem(
                    id=new_id("inv"),
                    product_id=pid,
                    variant_id=vid,
                    sku=sku,
                    reserved=0,
                    updated_at=now,
                    **fields,
                )
            )
            added += 1
    return added


async def reserved_total(s: AsyncSession) -> int:
    """Units held by reservations across every SKU (used by tests and the benchmark)."""
    return int(await s.scalar(select(func.coalesce(func.sum(InventoryItem.reserved), 0))) or 0)
