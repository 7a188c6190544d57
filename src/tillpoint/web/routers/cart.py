"""The shopping bag over HTTP: the caller's own cart only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field, Strict

from tillpoint.cart import public as cart_public
from tillpoint.cart.public import CartView, cart_to_dict
from tillpoint.config import MAX_LINE_QUANTITY
from tillpoint.errors import NotFound
from tillpoint.web.deps import IfMatchDep, RuntimeDep, SessionDep
from tillpoint.web.openapi import link
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, Whole, WholeNumber, error_responses

router = APIRouter(prefix="/api/cart", tags=["cart"], route_class=TypedPathRoute)

ItemId = Annotated[str, Path(max_length=40, pattern=r"^item_[0-9A-Za-z]{22}$")]
# Metadata numbers are small labels (sizes, counts), not money or ids.
MetaKey = Annotated[str, Field(max_length=40)]
MetaValue = (
    Annotated[str, Field(max_length=200)]
    | Annotated[int, Field(ge=-(10**9), le=10**9), Strict(), Whole]
    | bool
)
# Enforced by the cart service with its own code against the shop's setting (default 999).
QUANTITY_DOC = (
    f"1 to the shop's cart_max_line_quantity (default 999, at most {MAX_LINE_QUANTITY}); "
    "beyond: 422 quantity_out_of_range."
)


class LineOut(BaseModel):
    id: str
    product_id: str
    variant_id: str | None
    sku: str | None
    name: str | None
    quantity: int
    unit_price: int
    line_total: int
    current_unit_price: int | None
    price_changed: bool
    available: bool
    metadata: dict[str, Any]
    in_stock: bool
    available_quantity: int | None


class CouponOut(BaseModel):
    id: str
    coupon_id: str
    code: str
    discount_amount: int


class TotalsOut(BaseModel):
    subtotal: int
    discount: int
    total: int
    item_count: int


class CartOut(BaseModel):
    id: str
    version: int
    currency: str
    status: str
    expires_at: datetime
    items: list[LineOut]
    coupons: list[CouponOut]
    totals: TotalsOut
    notices: list[dict[str, Any]]


class AddItemIn(StrictModel):
    product_id: str = Field(max_length=40)
    variant_id: str | None = Field(default=None, max_length=40)
    quantity: WholeNumber = Field(
        default=1,
        description=QUANTITY_DOC,
        json_schema_extra={"minimum": 1, "maximum": MAX_LINE_QUANTITY},
    )
    metadata: dict[MetaKey, MetaValue] = Field(default_factory=dict, max_length=20)


class UpdateItemIn(StrictModel):
    quantity: WholeNumber = Field(
        description="0 removes the line; otherwise " + QUANTITY_DOC,
        json_schema_extra={"minimum": 0, "maximum": MAX_LINE_QUANTITY},
    )


CART_ERRORS = error_responses(400, 401, 403, 404, 409, 412, 422)


def cart_answer(response: Response, view: CartView) -> dict[str, Any]:
    """A cart answer: the cart JSON with its version as ETag, never cached."""
    response.headers["ETag"] = f'"{view.version}"'
    response.headers["Cache-Control"] = "no-store"
    return cart_to_dict(view)


async def _own_cart(rt: RuntimeDep, cart_id: str) -> CartView:
    view = await cart_public.get_cart(rt, cart_id)
    if view is None:
        raise NotFound("No such cart.", code="cart_not_found")
    return view


@router.get("", response_model=CartOut, responses=CART_ERRORS)
async def get_cart(response: Response, rt: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    """The caller's cart with lines checked against today's catalog."""
    return cart_answer(response, await _own_cart(rt, session.cart_id))


_ITEM = "/api/cart/items/{item_id}"
_ADDED: dict[int | str, dict[str, Any]] = {
    200: {
        "links": {
            "UpdateItem": link("patch", _ITEM, item_id="$response.body#/items/0/id"),
            "RemoveItem": link("delete", _ITEM, item_id="$response.body#/items/0/id"),
        }
    }
}


@router.post("/items", response_model=CartOut, responses={**_ADDED, **CART_ERRORS})
async def add_item(
    body: AddItemIn, response: Response, rt: RuntimeDep, session: SessionDep, if_match: IfMatchDep
) -> dict[str, Any]:
    """Add a product (same product, variant and metadata merge into one line)."""
    view = await cart_public.add_item(
        rt,
        session.cart_id,
        product_id=body.product_id,
        variant_id=body.variant_id,
        quantity=body.quantity,
        metadata=dict(body.metadata),
        if_match=if_match,
    )
    return cart_answer(response, view)


@router.patch("/items/{item_id}", response_model=CartOut, responses=CART_ERRORS)
async def update_item(
    item_id: ItemId,
    body: UpdateItemIn,
    response: Response,
    rt: RuntimeDep,
    session: SessionDep,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Set a line's quantity; 0 removes the line."""
    view = await cart_public.update_item_quantity(
        rt, session.cart_id, item_id, body.quantity, if_match=if_match
    )
    return cart_answer(response, view)


@router.delete("/items/{item_id}", response_model=CartOut, responses=CART_ERRORS)
async def remove_item(
    item_id: ItemId, response: Response, rt: RuntimeDep, session: SessionDep, if_match: IfMatchDep
) -> dict[str, Any]:
    """Remove one line."""
    return cart_answer(
        response, await cart_public.remove_item(rt, session.cart_id, item_id, if_match=if_match)
    )


@router.delete("", response_model=CartOut, responses=CART_ERRORS)
async def clear_cart(
    response: Response, rt: RuntimeDep, session: SessionDep, if_match: IfMatchDep
) -> dict[str, Any]:
    """Empty the cart (lines and coupons)."""
    return cart_answer(
        response, await cart_public.clear_cart(rt, session.cart_id, if_match=if_match)
    )
