"""Reading stock: the row that tracks a product or variant, levels, and availability checks.

A variant without a row of its own draws on its product's row (stock kept per product);
a product or variant with no row at all is untracked and always available.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, event, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from tillpoint.catalog.public import Product, is_product_id
from tillpoint.errors import FieldError, InvalidInput, NotFound
from tillpoint.inventory.models import InventoryItem
from tillpoint.runtime import Runtime

StockKey = tuple[str, str | None]
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BackorderInfo:
    """How a line short of stock can still be bought (the seed's backorderInfo)."""

    backordered: int
    estimated_delivery: str
    restock_date: date | None


@dataclass(frozen=True, slots=True)
class Substitute:
    """An in-stock product suggested in place of one that is not."""

    product_id: str
    sku: str
    name: str
    price: int
    currency: str
    available: int | None  # None: untracked, always available


@dataclass(frozen=True, slots=True)
class InventoryCheck:
    """The seed's InventoryCheck, plus the fallbacks that apply when stock is short."""

    product_id: str
    variant_id: str | None
    sku: str | None
    requested: int
    available: int | None  # None: untracked, always available
    is_available: bool
    tracked: bool
    backorder_info: BackorderInfo | None = None
    substitutes: list[Substitute] = field(default_factory=list)
    waitlist: bool = False


@dataclass(frozen=True, slots=True)
class SkuLevel:
    variant_id: str | None
    sku: str
    available: int
    in_stock: bool
    backorder_allowed: bool
    backorder_estimate: str | None
    restock_date: date | None


@dataclass(frozen=True, slots=True)
class ProductStock:
    """A product's current level: the sum over its tracked SKUs, and each SKU."""

    product_id: str
    tracked: bool
    available: int | None
    in_stock: bool
    skus: list[SkuLevel]


def backorder_enabled(rt: Runtime, row: InventoryItem) -> bool:
    """Backorders need the row's permission and the shop-wide fallback switched on."""
    return row.backorder_allowed and rt.settings.inventory_backorder_enabled


async def stock_rows(s: AsyncSession, keys: Iterable[StockKey]) -> dict[StockKey, InventoryItem]:
    """The stock rows of these products (all their variants), by (product, variant)."""
    pids = sorted({p for p, _ in keys})
    if not pids:
        return {}
    rows = await s.scalars(
        select(InventoryItem)
        .where(InventoryItem.product_id.in_(pids))
        .execution_options(populate_existing=True)
    )
    return {(r.product_id, r.variant_id): r for r in rows}


def row_for(rows: dict[StockKey, R], key: StockKey) -> R | None:
    """The row a (product, variant) draws on: its own, else its product's, else None."""
    return rows.get(key) or (rows.get((key[0], None)) if key[1] is not None else None)


def level_of(rt: Runtime, row: InventoryItem) -> SkuLevel:
    return SkuLevel(
        variant_id=row.variant_id,
        sku=row.sku,
        available=row.available,
        in_stock=row.available > 0 or backorder_enabled(rt, row),
        backorder_allowed=backorder_enabled(rt, row),
        backorder_estimate=(
            row.backorder_estimate or rt.settings.inventory_backorder_estimate
            if backorder_enabled(rt, row)
            else None
        ),
        restock_date=row.restock_date,
    )


async def product_stock(rt: Runtime, s: AsyncSession, product_id: str) -> ProductStock:
    """The current level of one product (``NotFound`` if there is no such product)."""
    product = await s.get(Product, product_id) if is_product_id(product_id) else None
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    rows = sorted(
        (await stock_rows(s, [(product_id, None)])).values(), key=lambda r: r.variant_id or ""
    )
    if not rows:
        return ProductStock(product_id, tracked=False, available=None, in_stock=True, skus=[])
    levels = [level_of(rt, r) for r in rows]
    return ProductStock(
        product_id=product_id,
        tracked=True,
        available=sum(lv.available for lv in levels),
        in_stock=any(lv.in_stock for lv in levels),
        skus=levels,
    )


async def get_stock_level(
    rt: Runtime, product_id: str, variant_id: str | None = None
) -> int | None:
    """The seed's getStockLevel: units available now (None if the product is untracked)."""
    async with rt.db.transaction() as s:
        if variant_id is None:
            return (await product_stock(rt, s, product_id)).available
        row = row_for(await stock_rows(s, [(product_id, variant_id)]), (product_id, variant_id))
        return None if row is None else row.available


async def check_in(
    rt: Runtime, s: AsyncSession, product_id: str, quantity: int, variant_id: str | None = None
) -> InventoryCheck:
    """:func:`check_availability` inside the unit of work ``s``."""
    from tillpoint.inventory.fallbacks import suggest_substitutes

    if isinstance(quantity, bool) or quantity < 1:
        raise InvalidInput("Quantity must be at least 1.", code="quantity_out_of_range")
    product = await s.get(Product, product_id) if is_product_id(product_id) else None
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    key = (product_id, variant_id)
    row = row_for(await stock_rows(s, [key]), key)
    if row is None:
        return InventoryCheck(product_id, variant_id, None, quantity, None, True, tracked=False)
    available = row.available
    backorder: BackorderInfo | None = None
    if available < quantity and backorder_enabled(rt, row):
        backorder = BackorderInfo(
            backordered=quantity - available,
            estimated_delivery=row.backorder_estimate or rt.settings.inventory_backorder_estimate,
            restock_date=row.restock_date,
        )
    ok = available >= quantity or backorder is not None
    substitutes: list[Substitute] = []
    if not ok and rt.settings.inventory_substitutes_enabled:
        substitutes = await suggest_substitutes(rt, s, product, quantity)
    return InventoryCheck(
        product_id=product_id,
        variant_id=variant_id,
        sku=row.sku,
        requested=quantity,
        available=available,
        is_available=ok,
        tracked=True,
        backorder_info=backorder,
        substitutes=substitutes,
        waitlist=not ok and rt.settings.inventory_waitlist_enabled,
    )


async def check_availability(
    rt: Runtime, product_id: str, quantity: int, *, variant_id: str | None = None
) -> InventoryCheck:
    """The seed's checkAvailability: can ``quantity`` be bought now, and if not, what instead
    (backorder info, in-stock substitutes, the waitlist)."""
    async with rt.db.transaction() as s:
        return await check_in(rt, s, product_id, quantity, variant_id)


@dataclass(frozen=True, slots=True)
class StockStatus:
    """Whether a cart's total demand for one SKU can be met now."""

    sku: str | None
    available: int | None  # None: untracked
    requested: int
    backorder: bool

    @property
    def in_stock(self) -> bool:
        return self.available is None or self.backorder or self.available >= self.requested


async def stock_status_for(
    rt: Runtime, s: AsyncSession, demand: dict[StockKey, int], *, cart_id: str | None = None
) -> dict[StockKey, StockStatus]:
    """For each (product, variant) and the total quantity wanted of it: can it be had now?
    Lines drawing on the same stock row add up; units already held for ``cart_id`` (its
    hold or its checkout's reservation) count as available to it."""
    return await stock_statuses(
        s, demand, backorder_enabled=rt.settings.inventory_backorder_enabled, cart_id=cart_id
    )


async def stock_statuses(
    s: AsyncSession,
    demand: dict[StockKey, int],
    *,
    backorder_enabled: bool = True,
    cart_id: str | None = None,
) -> dict[StockKey, StockStatus]:
    """:func:`stock_status_for` without a runtime (the shop-wide backorder switch given)."""
    rows = await _stock_levels(s, demand, cart_id)
    per_row: dict[str, int] = {}
    for key, q in demand.items():
        row = row_for(rows, key)
        if row is not None:
            per_row[row.id] = per_row.get(row.id, 0) + q
    out: dict[StockKey, StockStatus] = {}
    for key, q in demand.items():
        row = row_for(rows, key)
        if row is None:
            out[key] = StockStatus(None, None, q, backorder=False)
        else:
            backorder = row.backorder_allowed and backorder_enabled
            available = max(row.on_hand - row.reserved + row.own, 0)
            out[key] = StockStatus(row.sku, available, per_row[row.id], backorder)
    return out


@dataclass(frozen=True, slots=True)
class _Level:
    id: str
    sku: str
    on_hand: int
    reserved: int
    backorder_allowed: bool
    own: int  # units the cart's own active reservations hold on this row


async def _stock_levels(
    s: AsyncSession, demand: Iterable[StockKey], cart_id: str | None
) -> dict[StockKey, _Level]:
    """The stock rows of these products with what ``cart_id`` holds on each: one SELECT
    (the hold as a correlated sum), tuples only (read at every cart and checkout step)."""

    pids = sorted({p for p, _ in demand})
    if not pids:
        return {}
    memo = s.info.get(_LEVELS)
    if (
        memo is not None
        and memo[0] == cart_id
        and memo[1].issuperset(pids)
        and not _stock_pending(s.sync_session)
    ):
        return dict(memo[2])
    if cart_id is None:
        result = await s.execute(_levels_statement(held=False), {"pids": pids})
    else:
        result = await s.execute(_levels_statement(held=True), {"pids": pids, "cart_id": cart_id})
    levels = {
        (pid, vid): _Level(str(rid), sku, int(on_hand), int(reserved), bool(back), int(held))
        for rid, pid, vid, sku, on_hand, reserved, back, held in result.all()
    }
    s.info[_LEVELS] = (cart_id, frozenset(pids), levels)
    return dict(levels)


# The levels one unit of work read, kept until it writes anything that could move them: a
# cart write checks stock for the line it adds, then answers with the whole cart's stock.
_LEVELS = "tillpoint.stock_levels"


@functools.cache
def _levels_statement(*, held: bool) -> Select[Any]:
    """The stock-levels SELECT, built once: it runs at every cart and checkout step, and
    building the expression (and its cache key) cost about as much CPU as running it."""
    from tillpoint.inventory.models import InventoryReservation, InventoryReservationLine

    inv, line = InventoryItem, InventoryReservationLine
    own: Any = literal(0)
    if held:
        own = (
            select(func.coalesce(func.sum(line.quantity), 0))
            .join(InventoryReservation, InventoryReservation.id == line.reservation_id)
            .where(
                InventoryReservation.reference == bindparam("cart_id"),
                InventoryReservation.status == "active",
                line.inventory_id == inv.id,
            )
            .correlate(inv)
            .scalar_subquery()
        )
    return select(
        inv.id, inv.product_id, inv.variant_id, inv.sku, inv.on_hand, inv.reserved,
        inv.backorder_allowed, own,
    ).where(inv.product_id.in_(bindparam("pids", expanding=True)))  # fmt: skip


_STOCK_TABLES = frozenset({"inventory", "inventory_reservations", "inventory_reservation_lines"})


def known_row_refs(s: AsyncSession, pids: Iterable[str]) -> dict[StockKey, tuple[str, str]] | None:
    """The (id, SKU) of these products' stock rows as this unit of work last read them with
    their levels (nothing of the stock written since), or None: the caller reads them."""
    memo = s.info.get(_LEVELS)
    if memo is None or not memo[1].issuperset(pids) or _stock_pending(s.sync_session):
        return None
    return {key: (level.id, level.sku) for key, level in memo[2].items()}


def _forget_levels(session: Session) -> None:
    session.info.pop(_LEVELS, None)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not state.is_select and _LEVELS in state.session.info:
        # Writes to other tables (the audit chain, cart lines) leave the levels standing.
        table = getattr(getattr(state.statement, "table", None), "name", None)
        if table is None or table in _STOCK_TABLES:
            _forget_levels(state.session)


def _stock_pending(session: Session) -> bool:
    """Whether stock rows or reservations changed in the session and are not flushed yet."""
    return any(
        getattr(obj, "__tablename__", None) in _STOCK_TABLES
        for obj in (*session.new, *session.dirty, *session.deleted)
    )


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _context: Any) -> None:
    if _LEVELS in session.info and _stock_pending(session):
        _forget_levels(session)


@event.listens_for(Session, "after_transaction_end")
def _on_end(session: Session, transaction: SessionTransaction) -> None:
    # The unit of work or a savepoint ended (not the inner transaction every flush opens).
    if transaction.parent is None or transaction.nested:
        _forget_levels(session)


async def ensure_available(
    rt: Runtime,
    s: AsyncSession,
    demand: dict[StockKey, int],
    *,
    only: StockKey | None = None,
    cart_id: str | None = None,
) -> None:
    """Raise ``OutOfStock`` (409, with the available quantity) if the total ``demand`` of
    ``only`` (or of any key) cannot be met and backorder is not allowed."""
    from tillpoint.inventory.errors import OutOfStock, Shortage

    status = await stock_status_for(rt, s, demand, cart_id=cart_id)
    short = [
        Shortage(key[0], key[1], st.sku or "", st.requested, st.available or 0)
        for key, st in status.items()
        if not st.in_stock and (only is None or key == only)
    ]
    if short:
        raise OutOfStock(short)


async def cart_stock_problems(
    s: AsyncSession, cart_id: str, items: Sequence[Any], *, backorder_enabled: bool = True
) -> list[FieldError]:
    """Field errors (path ``cart.items.<n>``, code ``out_of_stock``) for the lines of a cart
    whose stock cannot cover the cart's demand now (its own holds count as its own)."""
    demand: dict[StockKey, int] = {}
    for item in items:
        key = (item.product_id, item.variant_id)
        demand[key] = demand.get(key, 0) + item.quantity
    status = await stock_statuses(s, demand, backorder_enabled=backorder_enabled, cart_id=cart_id)
    problems = []
    for pos, item in enumerate(items):
        st = status[(item.product_id, item.variant_id)]
        if not st.in_stock:
            problems.append(
                FieldError(
                    ("cart", "items", pos),
                    "out_of_stock",
                    f"Only {st.available} of {st.sku} available; the cart wants {st.requested}.",
                )
            )
    return problems
