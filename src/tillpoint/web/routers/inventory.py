"""Stock over HTTP: levels, availability with fallbacks, the SSE stream, the waitlist,
cart holds, and the signed webhook of an external inventory system."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from tillpoint.audit.events import SecurityEventType
from tillpoint.audit.service import log_security_event
from tillpoint.audit.signature_failures import audit_signature_failure
from tillpoint.cart import public as cart_public
from tillpoint.errors import RateLimited, TillpointError
from tillpoint.inventory import public as inventory_public
from tillpoint.inventory.public import (
    Reservation,
    ReservationCapReached,
    parse_last_event_id,
    stock_events,
    watchable_product_ids,
)
from tillpoint.runtime import Runtime
from tillpoint.security.ratelimit import RateLimiter
from tillpoint.web.deps import (
    RateLimiterDep,
    RuntimeDep,
    SessionDep,
    client_ip,
    request_actor,
)
from tillpoint.web.openapi import link
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, error_responses
from tillpoint.web.screening import OPAQUE_TOKEN
from tillpoint.web.security_middleware import rate_limiter_for

router = APIRouter(prefix="/api/inventory", tags=["inventory"], route_class=TypedPathRoute)

# Our own product ids only: a product id of any shape (products written by other tools)
# could be one of this router's words (GET /api/inventory/reservations must answer 405).
# Such products get their stock through /api/admin/inventory/{product_id}.
ProductId = Annotated[str, Path(max_length=40, pattern=r"^prod_[0-9A-Za-z]{22}$")]
VariantQuery = Annotated[str | None, Query(max_length=40, pattern=r"^var_[0-9A-Za-z]{22}$")]


class SkuLevelOut(BaseModel):
    variant_id: str | None
    sku: str
    available: int
    in_stock: bool
    backorder_allowed: bool
    backorder_estimate: str | None
    restock_date: date | None


class StockOut(BaseModel):
    product_id: str
    tracked: bool
    available: int | None = Field(description="Sum over the SKUs; null when untracked.")
    in_stock: bool
    skus: list[SkuLevelOut]


class BackorderOut(BaseModel):
    backordered: int
    estimated_delivery: str
    restock_date: date | None


class SubstituteOut(BaseModel):
    product_id: str
    sku: str
    name: str
    price: int
    currency: str
    available: int | None


class CheckOut(BaseModel):
    """The seed's InventoryCheck."""

    product_id: str
    variant_id: str | None
    sku: str | None
    requested: int
    available: int | None
    is_available: bool
    tracked: bool
    backorder_info: BackorderOut | None
    substitutes: list[SubstituteOut]
    waitlist: bool


class ReservedItemOut(BaseModel):
    product_id: str
    variant_id: str | None
    quantity: int
    tracked: bool
    backordered: int


class ReservationOut(BaseModel):
    id: str
    status: str
    expires_at: datetime
    items: list[ReservedItemOut]


class WaitlistOut(BaseModel):
    id: str
    product_id: str
    variant_id: str | None
    status: str


class WebhookOut(BaseModel):
    status: str = Field(description="applied | duplicate")
    delivery: str
    applied: int


def reservation_out(res: Reservation) -> dict[str, Any]:
    return {
        "id": res.id,
        "status": res.status,
        "expires_at": res.expires_at.isoformat(),
        "items": [asdict(i) for i in res.items],
    }


_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}
}


@router.get(
    "/stream", response_class=EventSourceResponse, responses={**_STREAM, **error_responses(422)}
)
async def stream(
    request: Request,
    rt: RuntimeDep,
    product_ids: Annotated[str, Query(max_length=4000, description="Comma-separated ids.")],
    # Our own millisecond timestamp, Luhn-valid one time in ten: opaque, not a card number.
    last_event_id: Annotated[
        str | None, Header(max_length=32, json_schema_extra=OPAQUE_TOKEN)
    ] = None,
) -> EventSourceResponse:
    """Server-Sent Events of stock changes for these products: at most one ``stock`` event
    per product per second, heartbeats, and resume with ``Last-Event-ID``."""
    ids = await watchable_product_ids(rt, product_ids.split(","))
    events = stock_events(rt, ids, last_event_id=parse_last_event_id(last_event_id))
    return EventSourceResponse(
        events,
        ping=rt.settings.inventory_stream_heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# The signature is the operation's credential; the other two headers are checked (and
# audited on failure) by the webhook itself, so they are stated here for the schema only.
InventorySignature = Annotated[
    str | None,
    Security(
        APIKeyHeader(
            name=inventory_public.SIGNATURE_HEADER,
            scheme_name="InventorySignature",
            description="sha256=<hex>: HMAC-SHA256 of '<timestamp>.<body>' (docs/api.md).",
            auto_error=False,
        )
    ),
]
_SIGNED_HEADERS = {
    "parameters": [
        {"name": inventory_public.TIMESTAMP_HEADER, "in": "header", "required": True,
         "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
         "description": "Unix seconds of the signature (within the tolerance)."},
        {"name": inventory_public.DELIVERY_HEADER, "in": "header", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 120},
         "description": "Unique per delivery: a replay is ignored."},
    ]
}  # fmt: skip


@router.post(
    "/webhook",
    response_model=WebhookOut,
    responses=error_responses(400, 401, 422, 503),
    openapi_extra=_SIGNED_HEADERS,
)
async def receive_webhook(
    request: Request, rt: RuntimeDep, signature: InventorySignature
) -> dict[str, Any]:
    """Stock levels from an external system, HMAC-SHA256 signed (docs/api.md, Webhooks). A
    failed signature is audited once per source address and minute (the rest counted)."""
    body = await request.body()
    try:
        return await inventory_public.receive_stock_webhook(rt, request.headers, body)
    except TillpointError as exc:
        if exc.code in _SIGNATURE_FAILURES:
            limiter = rate_limiter_for(request.app)
            await audit_signature_failure(rt, limiter, "inventory", exc.code, client_ip(request))
        raise


_SIGNATURE_FAILURES = frozenset(
    {"missing_signature", "invalid_timestamp", "stale_timestamp", "invalid_signature"}
)


_HELD: dict[int | str, dict[str, Any]] = {
    201: {
        "links": {
            "ReleaseHold": link(
                "delete",
                "/api/inventory/reservations/{reservation_id}",
                reservation_id="$response.body#/id",
            )
        }
    }
}


@router.post(
    "/reservations",
    status_code=201,
    response_model=ReservationOut,
    responses={**_HELD, **error_responses(401, 403, 404, 409)},
)
async def hold_cart(
    request: Request, rt: RuntimeDep, session: SessionDep, limiter: RateLimiterDep
) -> dict[str, Any]:
    """Hold the caller's cart's stock for the reservation TTL (all lines or none: 409
    ``out_of_stock`` with the available quantities). Idempotent per cart version. One
    session or customer holds at most ``inventory_hold_max_per_sku`` units of an item and
    ``inventory_hold_max_units`` in all, across its carts and checkouts: 409
    ``reservation_cap_reached`` otherwise."""
    try:
        async with rt.db.transaction() as s:
            held = await cart_public.reserve_cart(rt, s, session.cart_id)
        return reservation_out(held)
    except ReservationCapReached as exc:
        # One audit row per cart and reservation TTL, however often it is tried.
        ttl = rt.settings.inventory_reservation_ttl_seconds
        if await limiter.once("reservation-cap-audit", session.cart_id, ttl):
            await log_security_event(
                rt,
                SecurityEventType.reservation_cap_reached,
                actor=request_actor(request, session),
                entity_type="cart",
                entity_id=session.cart_id,
                metadata=exc.details,
            )
        raise


@router.delete(
    "/reservations/{reservation_id}",
    response_model=ReservationOut,
    responses=error_responses(401, 403, 404),
)
async def release_hold(
    reservation_id: Annotated[str, Path(max_length=80, pattern=r"^[0-9A-Za-z_:.-]+$")],
    rt: RuntimeDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Release one of the caller's cart holds at once."""
    return reservation_out(
        await inventory_public.release_cart_hold(rt, session.cart_id, reservation_id)
    )


@router.get("/{product_id}", response_model=StockOut, responses=error_responses(404, 422))
async def get_level(product_id: ProductId, rt: RuntimeDep, response: Response) -> dict[str, Any]:
    """A product's current stock: ``tracked``, ``available`` (sum over its SKUs; null when
    untracked, i.e. always available), ``in_stock`` and each SKU's level."""
    async with rt.db.transaction() as s:
        level = await inventory_public.product_stock(rt, s, product_id)
    response.headers["Cache-Control"] = "no-store"
    return asdict(level)


@router.get(
    "/{product_id}/availability", response_model=CheckOut, responses=error_responses(404, 422)
)
async def availability(
    product_id: ProductId,
    rt: RuntimeDep,
    quantity: Annotated[int, Query(ge=1, le=100_000)] = 1,
    variant_id: VariantQuery = None,
) -> dict[str, Any]:
    """The seed's InventoryCheck: available or not, with backorder info, substitutes
    and whether the waitlist is open."""
    check = await inventory_public.check_availability(
        rt, product_id, quantity, variant_id=variant_id
    )
    return asdict(check)


class WaitlistIn(StrictModel):
    email: str = Field(max_length=320)
    variant_id: str | None = Field(default=None, max_length=40)


@router.post(
    "/{product_id}/waitlist",
    status_code=201,
    response_model=WaitlistOut,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def join_waitlist(
    product_id: ProductId,
    body: WaitlistIn,
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    limiter: RateLimiterDep,
) -> dict[str, Any]:
    """Be emailed once when this product (or variant) is back in stock. A session may join
    ``inventory_waitlist_joins_per_session`` times and an address
    ``inventory_waitlist_joins_per_address`` times (429 ``waitlist_limit_reached``)."""
    await _count_waitlist_join(rt, limiter, session.session_id, client_ip(request))
    entry = await inventory_public.join_waitlist(
        rt, product_id, body.email, variant_id=body.variant_id
    )
    return {"id": entry.id, "product_id": entry.product_id, "variant_id": entry.variant_id,
            "status": "notified" if entry.notified_at else "waiting"}  # fmt: skip


async def _count_waitlist_join(
    rt: Runtime, limiter: RateLimiter, session_id: str, ip: str | None
) -> None:
    """Every address on a waitlist is e-mailed when stock returns: one caller may not put
    an unbounded number of them there."""
    limits = [("waitlist-session", rt.settings.inventory_waitlist_joins_per_session, session_id)]
    if ip:
        limits.append(("waitlist-address", rt.settings.inventory_waitlist_joins_per_address, ip))
    for name, notation, key in limits:
        state = await limiter.consume_limit(name, notation, key)
        if not state.allowed:
            raise RateLimited(
                "Too many waitlist sign-ups; try again later.",
                code="waitlist_limit_reached",
                retry_after=state.reset_after,
                details={"retry_after": state.reset_after},
            )
