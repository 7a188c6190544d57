"""``GET /api/products`` and ``GET /api/products/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from tillpoint.catalog import public as catalog_public
from tillpoint.catalog.public import Product
from tillpoint.web.deps import RuntimeDep
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import error_responses
from tillpoint.web.screening import OPAQUE_TOKEN

router = APIRouter(prefix="/api/products", tags=["catalog"], route_class=TypedPathRoute)


class VariantOut(BaseModel):
    id: str
    sku: str
    name: str
    price: int
    attributes: dict[str, str]
    active: bool


class ProductOut(BaseModel):
    id: str
    sku: str
    slug: str
    name: str
    description: str
    category: str
    tags: list[str]
    price: int
    compare_at_price: int | None
    currency: str
    weight_grams: int
    tax_category: str
    image_url: str | None = Field(description="The first of ``images``.")
    images: list[str]
    active: bool
    metadata: dict[str, Any]
    variants: list[VariantOut]


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


def product_out(p: Product) -> ProductOut:
    return ProductOut(
        id=p.id,
        sku=p.sku,
        slug=p.slug,
        name=p.name,
        description=p.description,
        category=p.category,
        tags=list(p.tags or []),
        price=p.price,
        compare_at_price=p.compare_at_price,
        currency=p.currency,
        weight_grams=p.weight_grams,
        tax_category=p.tax_category,
        image_url=next(iter(catalog_public.images_of(p)), None),
        images=catalog_public.images_of(p),
        active=p.active,
        metadata=dict(p.meta or {}),
        variants=[
            VariantOut(
                id=v.id,
                sku=v.sku,
                name=v.name,
                price=v.price if v.price is not None else p.price,
                attributes=dict(v.attributes or {}),
                active=v.active,
            )
            for v in p.variants
        ],
    )


@router.get("", response_model=ProductPage, responses=error_responses(422))
async def list_products(
    rt: RuntimeDep,
    cursor: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=catalog_public.PRODUCT_ID_PATTERN,
            json_schema_extra=OPAQUE_TOKEN,
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    category: Annotated[str | None, Query(max_length=80)] = None,
) -> ProductPage:
    """Active products, a page at a time (``next_cursor`` continues)."""
    rows, nxt = await catalog_public.list_products(rt, after=cursor, limit=limit, category=category)
    return ProductPage(items=[product_out(p) for p in rows], next_cursor=nxt)


@router.get("/{product_id}", response_model=ProductOut, responses=error_responses(404))
async def get_product(
    product_id: Annotated[str, Path(max_length=40, pattern=catalog_public.PRODUCT_ID_PATTERN)],
    rt: RuntimeDep,
) -> ProductOut:
    """One product with its variants."""
    return product_out(await catalog_public.get_product(rt, product_id))
