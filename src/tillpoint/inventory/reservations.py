"""Reservations that never oversell: reserve, extend, release, fulfill, expire.

Each line takes its stock with one conditional statement,
``UPDATE inventory SET reserved = reserved + q WHERE id = :id AND on_hand - reserved >= q``,
so two buyers can never both take the last unit (on PostgreSQL the second UPDATE waits
for the first and re-checks the condition; on SQLite writers are serialized). Lines are
taken in inventory-id order, so concurrent multi-line reservations lock rows in the same
order and cannot deadlock. All lines or none: a short line raises ``OutOfStock`` and the
unit of work rolls back.

Every function runs in the unit of work ``s`` it is given; the edge (a request, a job, the
:class:`~tillpoint.inventory.service.InventoryService` facade) opens it. A caller that
goes on with its own work after a refusal wraps the call in
:func:`tillpoint.db.savepoint`. Stock events are published after the commit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, String, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.errors import Conflict, FieldError, InvalidInput
from tillpoint.ids import new_id
from tillpoint.inventory.errors import (
    OutOfStock,
    ReservationClosed,
    ReservationNotFound,
    Shortage,
)
from tillpoint.inventory.feed import StockChange, publish_after_commit
from tillpoint.inventory.low_stock import LowStockCrossing, announce_low_stock, crossing
from tillpoint.inventory.models import (
    InventoryItem,
    InventoryReservation,
    InventoryReservationLine,
)
from tillpoint.inventory.queries import claim_expired, insert_reservation_if_new
from tillpoint.inventory.stock import StockKey, known_row_refs, row_for, stock_rows
from tillpoint.runtime import Runtime

_RES = cast(Table, InventoryReservation.__table__)
_LINES = cast(Table, InventoryReservationLine.__table__)

ACTIVE = "active"
EXPIRED = "expired"
FULFILLED = "fulfilled"
CANCELLED = "cancelled"

_RESERVATION_ID = re.compile(r"^[A-Za-z0-9_:.-]{1,80}$")


@dataclass(frozen=True, slots=True)
class StockRequest:
    """One line to reserve: a product (or one of its variants) and a quantity."""

    product_id: str
    quantity: int
    variant_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReservedItem:
    product_id: str
    variant_id: str | None
    quantity: int
    tracked: bool
    backordered: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """The seed's InventoryReservation."""

    id: str
    status: str  # active | expired | fulfilled | cancelled
    reference: str | None
    expires_at: datetime
    items: tuple[ReservedItem, ...]


def _view(res: InventoryReservation) -> Reservation:
    return Reservation(
        id=res.id,
        status=res.status,
        reference=res.reference,
        expires_at=res.expires_at,
        items=tuple(_reserved_item(line) for line in res.lines),
    )


def _reserved_item(line: Any) -> ReservedItem:
    """A reservation line as reported, from an ORM line or a row with the same columns."""
    return ReservedItem(
        product_id=line.product_id,
        variant_id=line.variant_id,
        quantity=line.quantity,
        tracked=line.inventory_id is not None,
        backordered=line.backordered,
    )


def _merge(items: Sequence[StockRequest]) -> dict[StockKey, int]:
    if not items:
        raise InvalidInput("Nothing to reserve.", code="no_items")
    merged: dict[StockKey, int] = {}
    for n, item in enumerate(items):
        q = item.quantity
        if isinstance(q, bool) or not isinstance(q, int) or q < 1:
            raise InvalidInput(
                "Quantity must be a positive whole number.",
                code="quantity_out_of_range",
                fields=[FieldError(("items", n, "quantity"), "quantity_out_of_range", "min 1")],
            )
        key = (item.product_id, item.variant_id)
        merged[key] = merged.get(key, 0) + q
    return merged


def _change(row: Any, at: datetime) -> StockChange:
    return StockChange(
        product_id=row.product_id,
        variant_id=row.variant_id,
        sku=row.sku,
        on_hand=row.on_hand,
        reserved=row.reserved,
        backorder_allowed=row.backorder_allowed,
        at=at,
    )


_RETURNING = (
    InventoryItem.product_id,
    InventoryItem.variant_id,
    InventoryItem.sku,
    InventoryItem.on_hand,
    InventoryItem.reserved,
    InventoryItem.backorder_allowed,
    InventoryItem.low_stock_threshold,
)


# The stock UPDATEs run once per line at every CONFIRM_ORDER and order: built once per
# shape (building the expression cost more CPU than running it), quantities, time and row
# bound by name (no inventory column is named q, at or row_id).
_Q = bindparam("q", type_=Integer)
_AT = bindparam("at", type_=InventoryItem.__table__.c.updated_at.type)
_ROW_ID = bindparam("row_id", type_=String)


@functools.cache
def _take_statement(*, backorder: bool, consume: bool) -> Any:
    has_room = InventoryItem.on_hand - InventoryItem.reserved >= _Q
    condition = (InventoryItem.backorder_allowed.is_(True) | has_room) if backorder else has_room
    values: dict[Any, Any] = {InventoryItem.updated_at: _AT}
    if consume:
        values[InventoryItem.on_hand] = InventoryItem.on_hand - _Q
    else:
        values[InventoryItem.reserved] = InventoryItem.reserved + _Q
    return (
        update(InventoryItem)
        .where(InventoryItem.id == _ROW_ID, condition)
        .values(values)
        .returning(*_RETURNING)
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _give_back_statement(*, sold: bool) -> Any:
    values: dict[Any, Any] = {
        InventoryItem.reserved: InventoryItem.reserved - _Q,
        InventoryItem.updated_at: _AT,
    }
    if sold:
        values[InventoryItem.on_hand] = InventoryItem.on_hand - _Q
    return (
        update(InventoryItem)
        .where(InventoryItem.id == _ROW_ID)
        .values(values)
        .returning(*_RETURNING)
        .execution_options(synchronize_session=False)
    )


async def _take(
    s: AsyncSession, row_id: str, quantity: int, *, backorder: bool, consume: bool, at: datetime
) -> Any:
    """The one atomic statement per line: take ``quantity`` if it is there (or backorder is
    allowed). ``consume`` takes it from ``on_hand`` (a sale), else into ``reserved``."""
    result = await s.execute(
        _take_statement(backorder=backorder, consume=consume),
        {"q": quantity, "at": at, "row_id": row_id},
    )
    return result.one_or_none()


async def _give_back(
    s: AsyncSession,
    per_row: dict[str, int],
    *,
    sold: bool,
    at: datetime,
    low: list[LowStockCrossing] | None = None,
) -> list[StockChange]:
    """Return reserved units (``sold``: they leave ``on_hand`` too), rows in id order;
    a sale that takes a row to its low-stock threshold is added to ``low``."""
    changes = []
    statement = _give_back_statement(sold=sold)
    for row_id in sorted(per_row):
        result = await s.execute(statement, {"q": per_row[row_id], "at": at, "row_id": row_id})
        row = result.one_or_none()
        if row is not None:
            changes.append(_change(row, at))
            if low is not None:
                _note_sale(low, row, per_row[row_id])
    return changes


def _note_sale(low: list[LowStockCrossing], row: Any, quantity: int) -> None:
    """A sale of ``quantity``: before it, those units were still sellable (reserved by
    this order, or taken now), so available stock was ``quantity`` higher."""
    before = row.on_hand - row.reserved + quantity
    found = crossing(
        row.product_id, row.variant_id, row.sku, before=before, on_hand=row.on_hand,
        reserved=row.reserved, threshold=row.low_stock_threshold,
    )  # fmt: skip
    if found is not None:
        low.append(found)


def _per_row(res: InventoryReservation) -> dict[str, int]:
    per: dict[str, int] = {}
    for line in res.lines:
        if line.inventory_id is not None:
            per[line.inventory_id] = per.get(line.inventory_id, 0) + line.quantity
    return per


async def _insert_if_new(s: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert the reservation row unless its id exists (concurrent twins wait, then skip)."""
    stmt = insert_reservation_if_new(s)
    return (await s.execute(stmt, values)).scalar_one_or_none() is not None


async def _load(s: AsyncSession, reservation_id: str, *, lock: bool) -> InventoryReservation:
    q = select(InventoryReservation).where(InventoryReservation.id == reservation_id)
    if lock:
        q = q.with_for_update()
    res = await s.scalar(q.execution_options(populate_existing=True))
    if res is None:
        raise ReservationNotFound("No such reservation.")
    return res


async def _shortages(
    rt: Runtime, s: AsyncSession, merged: dict[StockKey, int], backorder: bool
) -> list[Shortage]:
    rows = await stock_rows(s, merged)
    out = []
    for key, q in merged.items():
        row = row_for(rows, key)
        if row is None or (backorder and row.backorder_allowed) or row.available >= q:
            continue
        out.append(Shortage(key[0], key[1], row.sku, q, row.available))
    return out


async def reserve_inventory(
    rt: Runtime,
    s: AsyncSession,
    items: Sequence[StockRequest],
    reservation_id: str,
    *,
    ttl_seconds: int | None = None,
    reference: str | None = None,
) -> Reservation:
    """The seed's reserveInventory: hold every line for ``ttl_seconds`` (default the
    configured TTL) or none of them (``OutOfStock``, 409). Reserving again with the same
    ``reservation_id`` returns the existing reservation (``Conflict`` if its lines differ,
    ``ReservationClosed`` if it expired or was cancelled)."""
    if not _RESERVATION_ID.match(reservation_id or ""):
        raise InvalidInput("Bad reservation id.", code="invalid_reservation_id")
    merged = _merge(items)
    now = rt.clock.now()
    ttl = ttl_seconds or rt.settings.inventory_reservation_ttl_seconds
    # The step that checked the stock read these rows already (CONFIRM_ORDER's cart read):
    # taken before the INSERT below, which ends that memo.
    known = known_row_refs(s, {p for p, _ in merged})
    created = await _insert_if_new(
        s,
        {
            "id": reservation_id,
            "status": ACTIVE,
            "reference": reference,
            "expires_at": now + timedelta(seconds=ttl),
            "created_at": now,
            "updated_at": now,
        },
    )
    if not created:
        return _same_or_refuse(await _load(s, reservation_id, lock=False), merged)
    rows = await _row_refs(s, merged, known)
    planned = [(key, q, row_for(rows, key)) for key, q in merged.items()]
    # Tracked lines in row-id order: every transaction locks rows in the same order.
    planned.sort(key=lambda p: (p[2] is None, p[2].id if p[2] else ""))
    lines = _line_values(reservation_id, planned)
    # Lines first, stock last: the row locks the UPDATEs take are then held only
    # until the commit that follows, which keeps a hot SKU's queue short.
    # Core's executemany: one INSERT for every line (the ORM's bulk insert splits the
    # lines by which values are None, one statement per shape).
    await s.execute(insert(_LINES), lines)
    changes = await _take_lines(rt, s, lines, planned, merged, now)
    publish_after_commit(rt.stock_feed, s, changes)
    reserved = tuple(
        ReservedItem(
            line["product_id"],
            line["variant_id"],
            line["quantity"],
            line["inventory_id"] is not None,
            line["backordered"],
        )
        for line in lines
    )
    expires_at = now + timedelta(seconds=ttl)
    return Reservation(reservation_id, ACTIVE, reference, expires_at, reserved)


_Planned = list[tuple[StockKey, int, "_RowRef | None"]]


def _line_values(reservation_id: str, planned: _Planned) -> list[dict[str, Any]]:
    """The reservation's line rows, as Core's executemany takes them."""
    return [
        {
            "id": new_id("resl"),
            "reservation_id": reservation_id,
            "product_id": key[0],
            "variant_id": key[1],
            "inventory_id": row.id if row is not None else None,
            "quantity": q,
            "backordered": 0,
            "position": pos,
        }
        for pos, (key, q, row) in enumerate(planned)
    ]


async def _take_lines(
    rt: Runtime,
    u: AsyncSession,
    lines: list[dict[str, Any]],
    planned: _Planned,
    merged: dict[StockKey, int],
    now: datetime,
) -> list[StockChange]:
    """Take each tracked line's quantity off its stock row, or refuse them all
    (``OutOfStock`` rolls the unit back); a line beyond what is on hand is backordered."""
    backorder = rt.settings.inventory_backorder_enabled
    changes: list[StockChange] = []
    for line, (key, q, row) in zip(lines, planned, strict=True):
        if row is None:
            continue
        taken = await _take(u, row.id, q, backorder=backorder, consume=False, at=now)
        if taken is None:
            raise OutOfStock(
                await _shortages(rt, u, merged, backorder)
                or [Shortage(key[0], key[1], row.sku, q, 0)]
            )
        changes.append(_change(taken, now))
        short = max(0, q - max(taken.on_hand - (taken.reserved - q), 0))
        if short:
            line["backordered"] = short
            await u.execute(
                update(InventoryReservationLine)
                .where(InventoryReservationLine.id == line["id"])
                .values(backordered=short)
                .execution_options(synchronize_session=False)
            )
    return changes


@dataclass(frozen=True, slots=True)
class _RowRef:
    """What reserving needs of a stock row: which row to take from (and its SKU)."""

    id: str
    sku: str


# The stock rows of some products (all their variants): columns, not ORM rows (reserving
# runs at every CONFIRM_ORDER); the UPDATE that takes the units reads the levels itself.
_ROW_REFS = select(
    InventoryItem.id, InventoryItem.product_id, InventoryItem.variant_id, InventoryItem.sku
).where(InventoryItem.product_id.in_(bindparam("pids", expanding=True)))


async def _row_refs(
    s: AsyncSession, keys: dict[StockKey, int], known: dict[StockKey, tuple[str, str]] | None
) -> dict[StockKey, _RowRef]:
    if known is not None:
        return {key: _RowRef(rid, sku) for key, (rid, sku) in known.items()}
    pids = sorted({p for p, _ in keys})
    result = await s.execute(_ROW_REFS, {"pids": pids})
    return {(pid, vid): _RowRef(rid, sku) for rid, pid, vid, sku in result.all()}


def _same_or_refuse(res: InventoryReservation, merged: dict[StockKey, int]) -> Reservation:
    held = {(line.product_id, line.variant_id): line.quantity for line in res.lines}
    if held != merged:
        raise Conflict(
            "This reservation id is already used for other items.", code="reservation_mismatch"
        )
    if res.status in (EXPIRED, CANCELLED):
        raise ReservationClosed(f"This reservation is {res.status}; reserve again.")
    return _view(res)


async def get_reservation(rt: Runtime, reservation_id: str) -> Reservation:
    """One reservation as it is now (``ReservationNotFound`` if unknown)."""
    async with rt.db.transaction() as s:
        return await get_reservation_in(s, reservation_id)


async def get_reservation_in(s: AsyncSession, reservation_id: str) -> Reservation:
    """:func:`get_reservation` inside the unit of work ``s``."""
    return _view(await _load(s, reservation_id, lock=False))


async def extend_reservation(
    rt: Runtime, s: AsyncSession, reservation_id: str, *, seconds: int | None = None
) -> Reservation:
    """Keep an active reservation at least ``seconds`` more (default the configured
    extension), e.g. while a 3-D Secure challenge is pending. Never shortens it;
    ``ReservationClosed`` if it is no longer active."""
    now = rt.clock.now()
    extra = timedelta(seconds=seconds or rt.settings.inventory_reservation_extend_seconds)
    res = await _load(s, reservation_id, lock=True)
    if res.status == ACTIVE and res.expires_at <= now:
        # Past its time but not swept yet: the stock may be promised elsewhere soon.
        raise ReservationClosed("This reservation has expired; reserve again.")
    if res.status != ACTIVE:
        raise ReservationClosed(f"This reservation is {res.status}.")
    res.expires_at = max(res.expires_at, now + extra)
    res.updated_at = now
    await s.flush()
    return _view(res)


async def release_reservation(rt: Runtime, s: AsyncSession, reservation_id: str) -> Reservation:
    """The seed's releaseReservation: give an active reservation's units back at once
    (status ``cancelled``). Releasing a reservation that is not active changes nothing."""
    now = rt.clock.now()
    res = await _load(s, reservation_id, lock=True)
    if res.status != ACTIVE:
        return _view(res)
    changes = await _give_back(s, _per_row(res), sold=False, at=now)
    res.status = CANCELLED
    res.closed_at = res.updated_at = now
    await s.flush()
    publish_after_commit(rt.stock_feed, s, changes)
    return _view(res)


# A reservation's row (locked) and its lines in one statement, for fulfilling it.
_HELD = (
    select(
        _RES.c.status,
        _RES.c.reference,
        _RES.c.expires_at,
        _LINES.c.product_id,
        _LINES.c.variant_id,
        _LINES.c.inventory_id,
        _LINES.c.quantity,
        _LINES.c.backordered,
    )
    .select_from(_RES.outerjoin(_LINES, _LINES.c.reservation_id == _RES.c.id))
    .where(_RES.c.id == bindparam("rid"))
    .order_by(_LINES.c.position)
    .with_for_update(of=_RES)
)


_FULFILLED = (
    update(_RES)
    .where(_RES.c.id == bindparam("rid"))
    .values(status=FULFILLED, closed_at=_AT, updated_at=_AT)
)


def _held_view(reservation_id: str, rows: Sequence[Any]) -> Reservation:
    first = rows[0]
    return Reservation(
        id=reservation_id,
        status=first.status,
        reference=first.reference,
        expires_at=first.expires_at,
        items=tuple(_reserved_item(r) for r in rows if r.product_id is not None),
    )


async def fulfill_reservation(rt: Runtime, s: AsyncSession, reservation_id: str) -> Reservation:
    """The order was created: the reserved units leave stock (status ``fulfilled``).
    Call it in the order's unit of work ``s`` so both commit together. Idempotent.
    A reservation that expired or was cancelled meanwhile takes its units again if they
    are still there, else raises ``OutOfStock`` and nothing changes (its own savepoint).

    Core statements on the order's hot path: one read of the row and its lines, one
    UPDATE per inventory row, one of the reservation (no ORM load or flush)."""
    now = rt.clock.now()
    rows = (await s.execute(_HELD, {"rid": reservation_id})).all()
    if not rows:
        raise ReservationNotFound("No such reservation.")
    held = _held_view(reservation_id, rows)
    if held.status == FULFILLED:
        return held
    per_row: dict[str, int] = {}
    for r in rows:
        if r.inventory_id is not None:
            per_row[r.inventory_id] = per_row.get(r.inventory_id, 0) + r.quantity
    low: list[LowStockCrossing] = []
    if held.status == ACTIVE:
        # Reserved units always go: nothing can refuse, so no savepoint is needed.
        changes = await _give_back(s, per_row, sold=True, at=now, low=low)
    else:
        async with s.begin_nested():  # a refusal leaves the caller's unit of work usable
            changes = await _retake(rt, s, held, per_row, now, low)
    await s.execute(_FULFILLED, {"rid": reservation_id, "at": now})
    await announce_low_stock(rt, s, low, now)
    publish_after_commit(rt.stock_feed, s, changes)
    return Reservation(held.id, FULFILLED, held.reference, held.expires_at, held.items)


async def _retake(
    rt: Runtime,
    s: AsyncSession,
    held: Reservation,
    per_row: dict[str, int],
    now: datetime,
    low: list[LowStockCrossing],
) -> list[StockChange]:
    """An expired or cancelled reservation's units, taken again if they are still there."""
    changes = []
    backorder = rt.settings.inventory_backorder_enabled
    for row_id in sorted(per_row):
        taken = await _take(s, row_id, per_row[row_id], backorder=backorder, consume=True, at=now)
        if taken is None:
            merged = {(it.product_id, it.variant_id): it.quantity for it in held.items}
            raise OutOfStock(await _shortages(rt, s, merged, backorder))
        changes.append(_change(taken, now))
        _note_sale(low, taken, per_row[row_id])
    return changes


async def expire_reservations(rt: Runtime, *, batch: int = 200) -> int:
    """Sweeper job: release active reservations past their expiry (status ``expired``);
    returns how many. Rows are claimed with ``SKIP LOCKED`` on PostgreSQL, so several
    instances can sweep at once without waiting on each other."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        q = (
            select(InventoryReservation)
            .where(InventoryReservation.status == ACTIVE, InventoryReservation.expires_at <= now)
            .order_by(InventoryReservation.id)
            .limit(batch)
            .execution_options(populate_existing=True)
        )
        expired = list(await s.scalars(claim_expired(s, q)))
        per_row: dict[str, int] = {}
        for res in expired:
            for row_id, qty in _per_row(res).items():
                per_row[row_id] = per_row.get(row_id, 0) + qty
            res.status = EXPIRED
            res.closed_at = res.updated_at = now
        changes = await _give_back(s, per_row, sold=False, at=now)
        await s.flush()
        publish_after_commit(rt.stock_feed, s, changes)
        return len(expired)
