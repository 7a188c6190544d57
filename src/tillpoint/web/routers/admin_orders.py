"""Orders for staff under ``/api/admin/orders`` (admin role): the filtered list, today's
numbers, one order's whole story, shipments with tracking, refunds by amount or by line
(restocking exactly what they name) and cancelling an order that has not shipped.

Every answer is ``Cache-Control: no-store``; every change is audited in its unit of work.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, Strict

from tillpoint.money import MAX_AMOUNT
from tillpoint.orders import public as orders_public
from tillpoint.orders.public import (
    CURSOR_PATTERN,
    Fulfillment,
    FulfilRequest,
    Order,
    OrderCursor,
    OrderFilters,
    Refund,
    RefundLine,
    RefundRequest,
    ShipLine,
)
from tillpoint.web.deps import AdminDep, RuntimeDep, request_actor
from tillpoint.web.routers.orders import OrderId
from tillpoint.web.routers.payments import GatewayDep, IdempotencyKey
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import IsoAwareDateTime, StrictModel, Whole, error_responses
from tillpoint.web.screening import OPAQUE_TOKEN

router = APIRouter(prefix="/api/admin/orders", tags=["admin", "orders"], route_class=TypedPathRoute)

PaymentStatus = Literal["paid", "held_for_review", "partially_refunded", "refunded"]
FulfillmentStatus = Literal["unfulfilled", "partially_fulfilled", "fulfilled", "cancelled"]
Quantity = Annotated[int, Field(ge=1, le=1_000_000), Strict(), Whole]
LineId = Annotated[str, Field(max_length=40, pattern=r"^ol_[0-9A-Za-z]{22}$")]


class OrderSummaryOut(BaseModel):
    id: str
    number: str
    status: str
    payment_status: str
    fulfillment_status: str
    email: str | None
    currency: str
    total: int
    refunded: int
    item_count: int
    created_at: datetime


class OrderPage(BaseModel):
    items: list[OrderSummaryOut]
    next_cursor: str | None


class MoneyOut(BaseModel):
    currency: str
    amount: int


class TodayOut(BaseModel):
    orders: int
    revenue: list[MoneyOut]


class OrderStatsOut(BaseModel):
    today: TodayOut
    awaiting_fulfillment: int


class TotalsOut(BaseModel):
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    refunded: int


class PaymentOut(BaseModel):
    gateway: str
    status: str
    amount: int
    card_brand: str | None
    card_last4: str | None


class OrderLineOut(BaseModel):
    id: str
    product_id: str
    variant_id: str | None
    sku: str | None
    name: str
    quantity: int
    unit_price: int
    amount: int
    discount: int
    tax: int
    total: int
    refunded: int
    refunded_quantity: int
    restocked: int
    shipped: int


class RestockedOut(BaseModel):
    line_id: str
    sku: str | None
    quantity: int


class RefundOut(BaseModel):
    id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    restocked: list[RestockedOut]
    allocation: dict[str, int]
    created_at: datetime


class FulfillmentLineOut(BaseModel):
    line_id: str
    quantity: int


class FulfillmentOut(BaseModel):
    id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None
    lines: list[FulfillmentLineOut]
    created_at: datetime


class HistoryOut(BaseModel):
    at: datetime
    action: str
    actor: str | None
    summary: str


class OrderAdminOut(BaseModel):
    id: str
    number: str
    status: str
    payment_status: str
    fulfillment_status: str
    currency: str
    email: str | None
    totals: TotalsOut
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    shipping_method: dict[str, Any] | None
    payment: PaymentOut | None
    lines: list[OrderLineOut]
    refunds: list[RefundOut]
    fulfillments: list[FulfillmentOut]
    history: list[HistoryOut]
    cancelled_at: datetime | None
    created_at: datetime


def _summary(o: Order) -> OrderSummaryOut:
    return OrderSummaryOut(
        id=o.id, number=o.number, status=orders_public.order_status(o),
        payment_status=o.status, fulfillment_status=o.fulfillment_status, email=o.email,
        currency=o.currency, total=o.total, refunded=o.refunded_total,
        item_count=sum(line.quantity for line in o.lines), created_at=o.created_at,
    )  # fmt: skip


def _refund_out(r: Refund) -> RefundOut:
    return RefundOut(
        id=r.id, amount=r.amount, currency=r.currency, status=r.status, reason=r.reason,
        restocked=[RestockedOut.model_validate(x) for x in r.restocked or []],
        allocation=dict(r.allocation or {}), created_at=r.created_at,
    )  # fmt: skip


def _fulfillment_out(f: Fulfillment) -> FulfillmentOut:
    return FulfillmentOut(
        id=f.id, carrier=f.carrier, tracking_number=f.tracking_number,
        tracking_url=f.tracking_url, created_at=f.created_at,
        lines=[FulfillmentLineOut(line_id=x.order_line_id, quantity=x.quantity) for x in f.lines],
    )  # fmt: skip


def _lines_out(o: Order) -> list[OrderLineOut]:
    return [
        OrderLineOut(
            id=ln.id,
            product_id=ln.product_id,
            variant_id=ln.variant_id,
            sku=ln.sku,
            name=ln.name,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            amount=ln.amount,
            discount=ln.discount,
            tax=ln.tax,
            total=ln.total,
            refunded=ln.refunded_amount,
            refunded_quantity=ln.refunded_quantity,
            restocked=ln.restocked_quantity,
            shipped=ln.shipped_quantity,
        )
        for ln in o.lines
    ]


async def _order_out(rt: RuntimeDep, order_id: str) -> OrderAdminOut:
    o = await orders_public.get_order_as_admin(rt, order_id)
    history = await orders_public.order_history(rt, o.id)
    pay = o.payments[0] if o.payments else None
    return OrderAdminOut(
        id=o.id, number=o.number, status=orders_public.order_status(o), payment_status=o.status,
        fulfillment_status=o.fulfillment_status, currency=o.currency, email=o.email,
        totals=TotalsOut(
            subtotal=o.subtotal, discount=o.discount_total, shipping=o.shipping_total,
            tax=o.tax_total, total=o.total, refunded=o.refunded_total,
        ),
        shipping_address=o.shipping_address, billing_address=o.billing_address,
        shipping_method=o.shipping_method,
        payment=None if pay is None else PaymentOut(
            gateway=pay.gateway, status=pay.status, amount=pay.amount,
            card_brand=pay.card_brand, card_last4=pay.card_last4,
        ),
        lines=_lines_out(o), refunds=[_refund_out(r) for r in o.refunds],
        fulfillments=[_fulfillment_out(f) for f in o.fulfillments],
        history=[HistoryOut(at=h.at, action=h.action, actor=h.actor, summary=h.summary)
                 for h in history],
        cancelled_at=o.cancelled_at, created_at=o.created_at,
    )  # fmt: skip


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


Text = Annotated[str | None, Query(max_length=320)]


@router.get("", response_model=OrderPage, responses=error_responses(401, 403, 422))
async def list_orders(
    rt: RuntimeDep,
    _admin: AdminDep,
    response: Response,
    status: Literal[PaymentStatus, "cancelled"] | None = None,
    payment_status: PaymentStatus | None = None,
    fulfillment_status: FulfillmentStatus | None = None,
    email: Text = None,
    number: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[
        str | None, Query(max_length=320, description="Number or e-mail prefix, any case.")
    ] = None,
    created_from: Annotated[IsoAwareDateTime | None, Query(description="Inclusive.")] = None,
    created_to: Annotated[IsoAwareDateTime | None, Query(description="Exclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=60, pattern=CURSOR_PATTERN, json_schema_extra=OPAQUE_TOKEN)
    ] = None,
) -> OrderPage:
    """Orders matching every given filter, newest first; ``next_cursor`` continues."""
    filters = OrderFilters(
        status=status, payment_status=payment_status, fulfillment_status=fulfillment_status,
        email=email, number=number, q=q, created_from=created_from, created_to=created_to,
    )  # fmt: skip
    before = OrderCursor.parse(cursor) if cursor else None
    rows, nxt = await orders_public.list_admin_orders(rt, filters, limit=limit, before=before)
    _no_store(response)
    return OrderPage(items=[_summary(o) for o in rows], next_cursor=str(nxt) if nxt else None)


@router.get("/stats", response_model=OrderStatsOut, responses=error_responses(401, 403))
async def order_stats(rt: RuntimeDep, _admin: AdminDep, response: Response) -> OrderStatsOut:
    """Today's orders (UTC) and revenue net of refunds per currency; orders awaiting
    shipment (not cancelled, not fully refunded, not all shipped)."""
    stats = await orders_public.order_stats(rt)
    _no_store(response)
    return OrderStatsOut(
        today=TodayOut(
            orders=stats.today_orders,
            revenue=[MoneyOut(currency=c, amount=a) for c, a in stats.today_revenue],
        ),
        awaiting_fulfillment=stats.awaiting_fulfillment,
    )


@router.get("/{order_id}", response_model=OrderAdminOut, responses=error_responses(401, 403, 404))
async def get_order(
    order_id: OrderId, rt: RuntimeDep, _admin: AdminDep, response: Response
) -> OrderAdminOut:
    """One order's whole story: lines (with ids), payment, refunds and what each
    restocked, shipments, and its audit trail (``history``, oldest first)."""
    out = await _order_out(rt, order_id)
    _no_store(response)
    return out


class ShipLineIn(StrictModel):
    line_id: LineId
    quantity: Quantity


class FulfillmentIn(StrictModel):
    carrier: str = Field(min_length=1, max_length=40)
    tracking_number: str = Field(min_length=1, max_length=100, pattern=r"^[!-~][ -~]*$")
    lines: list[ShipLineIn] | None = Field(
        default=None, min_length=1, max_length=200,
        description="Omit to ship everything not shipped yet.",
    )  # fmt: skip


class FulfilledOut(BaseModel):
    fulfillment: FulfillmentOut
    order: OrderAdminOut


@router.post(
    "/{order_id}/fulfillments",
    status_code=201,
    response_model=FulfilledOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def create_fulfillment(
    order_id: OrderId,
    body: FulfillmentIn,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    admin: AdminDep,
) -> FulfilledOut:
    """Ship some or all units still to ship, with a tracking number (a tracking link for
    UPS, USPS, FedEx and DHL); e-mails the customer. More than is left on a line: 422
    with the line's field path; a cancelled order or nothing left: 409."""
    lines = None if body.lines is None else [ShipLine(ln.line_id, ln.quantity) for ln in body.lines]
    shipment = await orders_public.fulfil_order(
        rt, order_id, FulfilRequest(body.carrier.strip(), body.tracking_number.strip(), lines),
        request_actor(request, admin),
    )  # fmt: skip
    _no_store(response)
    return FulfilledOut(
        fulfillment=_fulfillment_out(shipment), order=await _order_out(rt, order_id)
    )


class CancelIn(StrictModel):
    reason: str | None = Field(default=None, max_length=500)


class CancelledOut(BaseModel):
    order: OrderAdminOut
    refund: RefundOut | None


@router.post(
    "/{order_id}/cancel",
    response_model=CancelledOut,
    responses=error_responses(400, 401, 403, 404, 409, 502, 503),
)
async def cancel_order(
    order_id: OrderId,
    body: CancelIn,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    gateway: GatewayDep,
    admin: AdminDep,
) -> CancelledOut:
    """Cancel an order nothing of which has shipped: refund everything left and restock
    every unit in one step. 409 ``order_already_shipped`` if anything shipped; a second
    cancel answers 409 ``order_already_cancelled``."""
    refund = await orders_public.cancel_order(
        rt, gateway, order_id, body.reason, request_actor(request, admin)
    )
    _no_store(response)
    return CancelledOut(
        order=await _order_out(rt, order_id),
        refund=None if refund is None else _refund_out(refund),
    )


class RefundLineIn(StrictModel):
    line_id: LineId
    quantity: Quantity
    restock: bool = False


class RefundIn(StrictModel):
    amount: Annotated[int, Field(gt=0, le=MAX_AMOUNT), Strict(), Whole] | None = Field(
        default=None,
        description="Minor units; omit to refund everything left (or the named lines' share).",
    )
    reason: str | None = Field(default=None, max_length=500)
    lines: list[RefundLineIn] | None = Field(
        default=None, min_length=1, max_length=200,
        description="Units to refund, each optionally put back in stock (restock).",
    )  # fmt: skip
    restock: bool = Field(
        default=False,
        description="Without lines and refunding everything left: restock every unit not "
        "shipped. With a partial amount or with lines: 422 restock_needs_lines.",
    )


class RefundedOut(BaseModel):
    refund: RefundOut
    order: OrderAdminOut
    message: str


def _message(refund: Refund) -> str:
    money = f"Refunded {refund.amount} {refund.currency} (minor units)."
    if not refund.restocked:
        return f"{money} Nothing was restocked: name lines with restock: true to restock."
    times = "\N{MULTIPLICATION SIGN}"
    back = ", ".join(f"{r['quantity']} {times} {r['sku']}" for r in refund.restocked)
    return f"{money} Restocked: {back}."


@router.post(
    "/{order_id}/refunds",
    status_code=201,
    response_model=RefundedOut,
    responses={
        200: {"description": "The refund this Idempotency-Key made before."},
        **error_responses(400, 401, 403, 404, 409, 422, 502, 503),
    },
)
async def create_refund(
    order_id: OrderId,
    body: RefundIn,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    gateway: GatewayDep,
    admin: AdminDep,
    idempotency_key: IdempotencyKey = None,
) -> RefundedOut:
    """Refund by amount (prorated; restocks nothing) or by line (each line's share, and
    ``restock`` puts exactly those units back). More than is left answers 422."""
    key = idempotency_key or f"auto:{secrets.token_hex(16)}"
    lines = None
    if body.lines is not None:
        lines = [RefundLine(ln.line_id, ln.quantity, ln.restock) for ln in body.lines]
    refund, created = await orders_public.refund_order(
        rt, gateway, order_id,
        RefundRequest(body.amount, key, reason=body.reason, restock=body.restock, lines=lines),
        request_actor(request, admin),
    )  # fmt: skip
    assert refund is not None  # only a cancel may refund nothing
    if not created:
        response.status_code = 200
    _no_store(response)
    return RefundedOut(
        refund=_refund_out(refund), order=await _order_out(rt, order_id), message=_message(refund)
    )
