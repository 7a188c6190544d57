"""Fulfilment: shipping some or all of an order's units, with a carrier and tracking number.

One unit of work per shipment (``fulfil_order``): the order row is locked, the quantities
checked against what is still to ship, the shipment written, the lines' ``shipped`` counts
moved, the audit row and the customer's "on its way" e-mail queued — all committed
together, so two concurrent shipments can never ship one unit twice.

A unit is still to ship when it was ordered, not taken back into stock before shipping and
not shipped yet: ``quantity - shipped - (restocked - returned)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.errors import Conflict, FieldError, InvalidInput, NotFound
from tillpoint.ids import is_valid_id, new_id
from tillpoint.orders.emails import queue_shipped
from tillpoint.orders.models import Fulfillment, FulfillmentLine, Order, OrderLine
from tillpoint.orders.service import order_event_data
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import (
    EventType,
    FulfillmentData,
    OrderFulfilledData,
    ShippedLineData,
    emit_event,
)

# The carriers whose tracking page we can link to: lower-case name -> URL pattern.
TRACKING_URLS = {
    "ups": "https://www.ups.com/track?tracknum={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={}",
}


def tracking_url(carrier: str, tracking_number: str) -> str | None:
    """The carrier's tracking page for this parcel; None for a carrier we do not know."""
    pattern = TRACKING_URLS.get(carrier.strip().lower())
    return pattern.format(quote(tracking_number, safe="")) if pattern else None


def unshipped(line: OrderLine) -> int:
    """Units of ``line`` still to ship (not shipped, not taken back before shipping)."""
    return max(0, line.quantity - line.shipped_quantity - _restocked_unshipped(line))


def _restocked_unshipped(line: OrderLine) -> int:
    return line.restocked_quantity - line.returned_quantity


def fulfillment_status(order: Order) -> str:
    """``cancelled``, else ``fulfilled`` when nothing is left to ship and something
    shipped, ``partially_fulfilled`` when some shipped, else ``unfulfilled``."""
    if order.cancelled_at is not None:
        return "cancelled"
    shipped = sum(line.shipped_quantity for line in order.lines)
    if shipped == 0:
        return "unfulfilled"
    left = sum(unshipped(line) for line in order.lines)
    return "fulfilled" if left == 0 else "partially_fulfilled"


@dataclass(frozen=True, slots=True)
class ShipLine:
    line_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class FulfilRequest:
    carrier: str
    tracking_number: str
    lines: Sequence[ShipLine] | None = None  # None: everything still to ship


class NothingToShip(Conflict):
    code = "nothing_to_ship"


async def lock_order(s: AsyncSession, order_id: str) -> Order:
    """The order, its row locked for this unit of work (404 ``order_not_found``)."""
    order = None
    if is_valid_id(order_id, "ord"):
        order = await s.scalar(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    return order


def _planned(order: Order, lines: Sequence[ShipLine] | None) -> list[tuple[OrderLine, int]]:
    """The (line, quantity) pairs to ship; 422 with the field path of the first bad line."""
    if lines is None:
        return [(line, unshipped(line)) for line in order.lines if unshipped(line) > 0]
    by_id = {line.id: line for line in order.lines}
    out: list[tuple[OrderLine, int]] = []
    problems: list[FieldError] = []
    asked: dict[str, int] = {}
    for i, want in enumerate(lines):
        line = by_id.get(want.line_id)
        if line is None:
            problems.append(FieldError(("lines", i, "line_id"), "unknown_line", "not a line"))
            continue
        asked[line.id] = asked.get(line.id, 0) + want.quantity
        if asked[line.id] > unshipped(line):
            problems.append(
                FieldError(
                    ("lines", i, "quantity"),
                    "exceeds_unshipped",
                    f"at most {unshipped(line)} of this line can still ship",
                )
            )
            continue
        out.append((line, want.quantity))
    if problems:
        raise InvalidInput(
            "Some lines cannot ship that many.", code="fulfillment_exceeds_unshipped",
            fields=problems,
        )  # fmt: skip
    return out


async def fulfil_order(
    rt: Runtime, order_id: str, request: FulfilRequest, actor: Actor
) -> Fulfillment:
    """Ship ``request.lines`` (or everything still to ship) in one unit of work; 409
    ``order_cancelled`` / ``nothing_to_ship``, 422 for more than is left on a line."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        order = await lock_order(s, order_id)
        if order.cancelled_at is not None:
            raise Conflict("This order was cancelled.", code="order_cancelled")
        planned = _planned(order, request.lines)
        if not planned:
            raise NothingToShip("Nothing is left to ship on this order.")
        url = tracking_url(request.carrier, request.tracking_number)
        shipment = Fulfillment(
            id=new_id("ful"), order_id=order.id, carrier=request.carrier,
            tracking_number=request.tracking_number, tracking_url=url,
            created_by=actor.user_id, created_at=now,
            lines=[
                FulfillmentLine(id=new_id("fl"), order_line_id=line.id, position=i, quantity=q)
                for i, (line, q) in enumerate(planned)
            ],
        )  # fmt: skip
        s.add(shipment)
        for line, quantity in planned:
            line.shipped_quantity += quantity
        order.fulfillment_status = fulfillment_status(order)
        queue_shipped(
            s, rt.settings, order, carrier=request.carrier,
            tracking_number=request.tracking_number, tracking_url=url, now=now,
            shipped=[(line, q) for line, q in planned], dedupe=shipment.id,
        )  # fmt: skip
        meta = {
            "fulfillment_id": shipment.id,
            "carrier": request.carrier,
            "tracking_number": request.tracking_number,
            "lines": [{"line_id": ln.id, "sku": ln.sku, "quantity": q} for ln, q in planned],
            "fulfillment_status": order.fulfillment_status,
        }
        await record(
            s, AuditEvent("order_fulfilled", "order", order.id, "fulfil", meta), actor, now
        )
        await s.flush()
        await _emit_fulfilled(s, order, shipment, planned)
        return shipment


async def _emit_fulfilled(
    s: AsyncSession, order: Order, shipment: Fulfillment, planned: list[tuple[OrderLine, int]]
) -> None:
    """``order.fulfilled`` for the owner's systems, committed with the shipment."""
    fulfillment = FulfillmentData(
        id=shipment.id, carrier=shipment.carrier, tracking_number=shipment.tracking_number,
        tracking_url=shipment.tracking_url,
        lines=[ShippedLineData(sku=ln.sku, name=ln.name, quantity=q) for ln, q in planned],
    )  # fmt: skip
    data = OrderFulfilledData(
        **dict(order_event_data(order)),
        fulfillment_status=order.fulfillment_status,
        fulfillment=fulfillment,
    )
    await emit_event(s, EventType.order_fulfilled, data, now=shipment.created_at)
