"""Coupon administration under ``/api/admin/coupons`` (admin role).

Money fields are integers in minor units of ``currency``; a ``percentage`` or
``buy_x_get_y`` coupon's ``value`` is in basis points (1000 = 10 %, 10000 = 100 %).
A ``buy_x_get_y`` coupon keeps its terms in ``metadata``: ``buy_quantity``,
``get_quantity`` and optional ``buy_products`` / ``get_products`` (empty: any
eligible product). Codes match case-insensitively and are stored upper case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from tillpoint.money import MAX_AMOUNT
from tillpoint.promotions import public as promotions_public
from tillpoint.web.deps import AdminDep, RuntimeDep, request_actor
from tillpoint.web.openapi import link
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import (
    IsoDateTime,
    StrictModel,
    Whole,
    error_responses,
    no_patch_defaults,
    patch_only,
)
from tillpoint.web.screening import OPAQUE_TOKEN

router = APIRouter(prefix="/api/admin/coupons", tags=["admin"], route_class=TypedPathRoute)

CouponId = Annotated[str, Path(max_length=40, pattern=r"^cpn_[0-9A-Za-z]{22}$")]
ADMIN_ERRORS = error_responses(400, 401, 403, 404, 409, 422)
ProductIds = list[Annotated[str, Field(max_length=40)]]
CouponKind = Literal["percentage", "fixed_amount", "free_shipping", "buy_x_get_y"]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT), Strict(), Whole]
Uses = Annotated[int, Field(ge=1, le=promotions_public.MAX_USES), Strict(), Whole]
Code = Annotated[str, Field(min_length=1, max_length=64)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
ProductList = Annotated[ProductIds, Field(max_length=500)]
Metadata = Annotated[dict[str, Any], Field(max_length=20)]


class CouponFields(StrictModel):
    type: CouponKind
    value: Amount = Field(
        description="percentage / buy_x_get_y: basis points (1000 = 10 %); "
        "fixed_amount: minor units; free_shipping: 0."
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="Needed by fixed amounts, minimums and caps (defaults to the shop's).",
    )
    minimum_order_amount: Amount | None = Field(default=None, description="Minor units.")
    maximum_discount: Amount | None = Field(default=None, description="Minor units.")
    start_date: IsoDateTime
    end_date: IsoDateTime = Field(description="Exclusive: the coupon has expired at this instant.")
    usage_limit: Uses | None = None
    per_customer_limit: Uses | None = Field(
        default=None, description="Uses per customer (by user id, or email for guests)."
    )
    is_active: bool = True
    combinable: bool = False
    applicable_products: ProductIds = Field(default_factory=list, max_length=500)
    excluded_products: ProductIds = Field(default_factory=list, max_length=500)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=20)


class CouponIn(CouponFields):
    code: str = Field(min_length=1, max_length=64)


class CouponBatchIn(CouponFields):
    count: Annotated[int, Field(ge=1, le=promotions_public.MAX_BATCH), Strict(), Whole]
    prefix: str = Field(default="", max_length=20)


class CouponPatch(StrictModel):
    """The fields to change. ``null`` clears the ones a coupon may lack (``currency``,
    ``minimum_order_amount``, ``maximum_discount``, ``usage_limit``,
    ``per_customer_limit``); the others cannot be null (422 ``null_not_allowed``): leave
    a field out to keep it, send ``[]`` or ``{}`` to empty a list or the metadata."""

    model_config = ConfigDict(json_schema_extra=no_patch_defaults)

    code: Annotated[Code | None, patch_only(Code)] = None
    type: Annotated[CouponKind | None, patch_only(CouponKind)] = None
    value: Annotated[Amount | None, patch_only(Amount)] = None
    currency: Currency | None = None
    minimum_order_amount: Amount | None = None
    maximum_discount: Amount | None = None
    start_date: Annotated[IsoDateTime | None, patch_only(datetime)] = None
    end_date: Annotated[IsoDateTime | None, patch_only(datetime)] = None
    usage_limit: Uses | None = None
    per_customer_limit: Uses | None = None
    is_active: Annotated[bool | None, patch_only(bool)] = None
    combinable: Annotated[bool | None, patch_only(bool)] = None
    applicable_products: Annotated[ProductList | None, patch_only(ProductList)] = None
    excluded_products: Annotated[ProductList | None, patch_only(ProductList)] = None
    metadata: Annotated[Metadata | None, patch_only(Metadata)] = None

    @field_validator(*sorted(promotions_public.NOT_NULLABLE), mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "null_not_allowed", "This field cannot be null: leave it out to keep it."
            )
        return value


class CouponOut(BaseModel):
    id: str
    code: str
    type: str
    value: int
    currency: str | None
    minimum_order_amount: int | None
    maximum_discount: int | None
    start_date: datetime
    end_date: datetime
    usage_limit: int | None
    usage_count: int
    per_customer_limit: int | None
    is_active: bool
    combinable: bool
    applicable_products: list[str]
    excluded_products: list[str]
    metadata: dict[str, Any]
    batch_id: str | None


class CouponListOut(BaseModel):
    items: list[CouponOut]
    next_cursor: str | None


def _draft(body: CouponFields, code: str) -> promotions_public.CouponDraft:
    return promotions_public.CouponDraft(
        code=code,
        type=body.type,
        value=body.value,
        start_date=body.start_date,
        end_date=body.end_date,
        currency=body.currency,
        minimum_order_amount=body.minimum_order_amount,
        maximum_discount=body.maximum_discount,
        usage_limit=body.usage_limit,
        per_customer_limit=body.per_customer_limit,
        is_active=body.is_active,
        combinable=body.combinable,
        applicable_products=tuple(body.applicable_products),
        excluded_products=tuple(body.excluded_products),
        metadata=dict(body.metadata),
    )


_COUPON = "/api/admin/coupons/{coupon_id}"
_MADE: dict[int | str, dict[str, Any]] = {
    201: {
        "links": {
            "GetCoupon": link("get", _COUPON, coupon_id="$response.body#/id"),
            "UpdateCoupon": link("patch", _COUPON, coupon_id="$response.body#/id"),
            "Deactivate": link("post", _COUPON + "/deactivate", coupon_id="$response.body#/id"),
        }
    }
}


@router.post("", response_model=CouponOut, status_code=201, responses={**_MADE, **ADMIN_ERRORS})
async def create_coupon(
    body: CouponIn, request: Request, rt: RuntimeDep, session: AdminDep
) -> dict[str, Any]:
    """Create a coupon (codes are unique case-insensitively: 409 ``coupon_code_taken``)."""
    coupon = await promotions_public.create_coupon(
        rt, _draft(body, body.code), actor=request_actor(request, session)
    )
    return promotions_public.coupon_to_dict(coupon)


@router.post("/bulk", response_model=CouponListOut, status_code=201, responses=ADMIN_ERRORS)
async def create_coupon_batch(
    body: CouponBatchIn, request: Request, rt: RuntimeDep, session: AdminDep
) -> dict[str, Any]:
    """Create ``count`` coupons with unique random single-use codes (``PREFIX-XXXXXXXXXX``)."""
    coupons = await promotions_public.create_coupon_batch(
        rt,
        _draft(body, body.prefix or "BATCH"),
        count=body.count,
        prefix=body.prefix,
        actor=request_actor(request, session),
    )
    return {"items": [promotions_public.coupon_to_dict(c) for c in coupons], "next_cursor": None}


@router.get("", response_model=CouponListOut, responses=ADMIN_ERRORS)
async def list_coupons(
    rt: RuntimeDep,
    session: AdminDep,
    cursor: Annotated[str | None, Query(max_length=40, json_schema_extra=OPAQUE_TOKEN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    active: bool | None = None,
    batch_id: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Coupons in id order; pass ``next_cursor`` back as ``cursor`` for the next page."""
    rows, next_cursor = await promotions_public.list_coupons(
        rt, after=cursor, limit=limit, active=active, batch_id=batch_id
    )
    return {
        "items": [promotions_public.coupon_to_dict(c) for c in rows],
        "next_cursor": next_cursor,
    }


@router.get("/{coupon_id}", response_model=CouponOut, responses=ADMIN_ERRORS)
async def get_coupon(coupon_id: CouponId, rt: RuntimeDep, session: AdminDep) -> dict[str, Any]:
    """One coupon, with its usage count."""
    return promotions_public.coupon_to_dict(await promotions_public.read_coupon(rt, coupon_id))


@router.patch("/{coupon_id}", response_model=CouponOut, responses=ADMIN_ERRORS)
async def update_coupon(
    coupon_id: CouponId, body: CouponPatch, request: Request, rt: RuntimeDep, session: AdminDep
) -> dict[str, Any]:
    """Change some fields; the coupon is checked as a whole afterwards."""
    coupon = await promotions_public.update_coupon(
        rt, coupon_id, body.model_dump(exclude_unset=True), actor=request_actor(request, session)
    )
    return promotions_public.coupon_to_dict(coupon)


@router.post("/{coupon_id}/deactivate", response_model=CouponOut, responses=ADMIN_ERRORS)
async def deactivate_coupon(
    coupon_id: CouponId, request: Request, rt: RuntimeDep, session: AdminDep
) -> dict[str, Any]:
    """Switch a coupon off (carts holding it drop it on their next change)."""
    coupon = await promotions_public.deactivate_coupon(
        rt, coupon_id, actor=request_actor(request, session)
    )
    return promotions_public.coupon_to_dict(coupon)
