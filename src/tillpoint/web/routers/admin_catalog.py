"""Catalog administration under ``/api/admin/products`` (admin role).

Prices are integers in minor units of ``currency``. A price change applies to new cart
lines only: carts keep the price a line was added at and say when it moved. SKUs are
unique across products and variants (any case); ``PUT /by-sku/{sku}`` is the idempotent
way to sync a catalog from elsewhere (the same body twice changes nothing the second time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from tillpoint.catalog import public as catalog_public
from tillpoint.catalog.public import Product, ProductDraft, ProductVariant, VariantDraft
from tillpoint.errors import FieldError, InvalidInput
from tillpoint.inventory import public as inventory_public
from tillpoint.money import MAX_AMOUNT
from tillpoint.runtime import Runtime
from tillpoint.web.deps import AdminDep, RuntimeDep, request_actor
from tillpoint.web.openapi import link
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, Whole, error_responses, no_patch_defaults, patch_only
from tillpoint.web.screening import OPAQUE_TOKEN

router = APIRouter(prefix="/api/admin/products", tags=["admin"], route_class=TypedPathRoute)

ADMIN_ERRORS = error_responses(400, 401, 403, 404, 409, 422)
ProductId = Annotated[str, Path(max_length=40, pattern=catalog_public.PRODUCT_ID_PATTERN)]
VariantId = Annotated[str, Path(max_length=40, pattern=r"^var_[0-9A-Za-z]{22}$")]
SkuPath = Annotated[str, Path(max_length=64, pattern=catalog_public.SKU_PATTERN)]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT), Strict(), Whole]
Grams = Annotated[int, Field(ge=0, le=1_000_000), Strict(), Whole]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=catalog_public.SKU_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Slug = Annotated[str, Field(min_length=1, max_length=120, pattern=catalog_public.SLUG_PATTERN)]
Description = Annotated[str, Field(max_length=catalog_public.MAX_DESCRIPTION)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
ImageUrl = Annotated[str, Field(max_length=500, pattern=catalog_public.IMAGE_URL_PATTERN)]
Images = Annotated[list[ImageUrl], Field(max_length=20)]
Category = Annotated[str, Field(min_length=1, max_length=80)]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=50)]], Field(max_length=50)]
TaxCategory = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,20}$")]
Metadata = Annotated[dict[str, Any], Field(max_length=50)]
Attributes = Annotated[
    dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=100)]],
    Field(max_length=20),
]
Position = Annotated[int, Field(ge=0, le=10_000), Strict(), Whole]


def _null_refused(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError(
            "null_not_allowed", "This field cannot be null: leave it out to keep it."
        )
    return value


class VariantIn(StrictModel):
    sku: Sku
    name: Name
    price: Amount | None = Field(default=None, description="Minor units; null: the product's.")
    compare_at_price: Amount | None = None
    weight_grams: Grams | None = Field(default=None, description="Null: the product's.")
    attributes: Attributes = Field(default_factory=dict)
    position: Position | None = Field(default=None, description="Default: after the others.")
    active: bool = True

    def draft(self) -> VariantDraft:
        return VariantDraft(**self.model_dump())


class ProductIn(StrictModel):
    """A product: ``sku``, ``name`` and ``price`` are enough, the rest has defaults."""

    sku: Sku
    name: Name
    price: Amount = Field(description="Minor units of ``currency``.")
    currency: Currency | None = Field(default=None, description="Default: the shop's.")
    slug: Slug | None = Field(default=None, description="Default: made from the name.")
    description: Description = ""
    compare_at_price: Amount | None = Field(default=None, description="Not below ``price``.")
    images: Images = Field(default_factory=list, description="http(s) URLs; the first leads.")
    category: Category = "general"
    tags: Tags = Field(default_factory=list)
    weight_grams: Grams = 0
    tax_category: TaxCategory = "standard"
    active: bool = True
    metadata: Metadata = Field(default_factory=dict)
    variants: Annotated[list[VariantIn], Field(max_length=200)] | None = Field(
        default=None,
        description="On create: the variants. On upsert: exactly these are active "
        "(matched by SKU; others are switched off); left out: variants are kept.",
    )

    def draft(self) -> ProductDraft:
        fields = self.model_dump(exclude={"variants"})
        variants = None if self.variants is None else tuple(v.draft() for v in self.variants)
        return ProductDraft(
            **{**fields, "images": tuple(self.images), "tags": tuple(self.tags)},
            variants=variants,
        )


class ProductPatch(StrictModel):
    """The fields to change; left out: kept. ``null`` clears ``compare_at_price`` only."""

    model_config = ConfigDict(json_schema_extra=no_patch_defaults)

    sku: Annotated[Sku | None, patch_only(Sku)] = None
    name: Annotated[Name | None, patch_only(Name)] = None
    price: Annotated[Amount | None, patch_only(Amount)] = None
    currency: Annotated[Currency | None, patch_only(Currency)] = None
    slug: Annotated[Slug | None, patch_only(Slug)] = None
    description: Annotated[Description | None, patch_only(Description)] = None
    compare_at_price: Amount | None = None
    images: Annotated[Images | None, patch_only(Images)] = None
    category: Annotated[Category | None, patch_only(Category)] = None
    tags: Annotated[Tags | None, patch_only(Tags)] = None
    weight_grams: Annotated[Grams | None, patch_only(Grams)] = None
    tax_category: Annotated[TaxCategory | None, patch_only(TaxCategory)] = None
    active: Annotated[bool | None, patch_only(bool)] = None
    metadata: Annotated[Metadata | None, patch_only(Metadata)] = None

    @field_validator(
        "sku", "name", "price", "currency", "slug", "description", "images", "category",
        "tags", "weight_grams", "tax_category", "active", "metadata", mode="before",
    )  # fmt: skip
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        return _null_refused(value)


class VariantPatch(StrictModel):
    """The fields to change; ``null`` price or weight: the product's again."""

    model_config = ConfigDict(json_schema_extra=no_patch_defaults)

    sku: Annotated[Sku | None, patch_only(Sku)] = None
    name: Annotated[Name | None, patch_only(Name)] = None
    price: Amount | None = None
    compare_at_price: Amount | None = None
    weight_grams: Grams | None = None
    attributes: Annotated[Attributes | None, patch_only(Attributes)] = None
    position: Annotated[Position | None, patch_only(Position)] = None
    active: Annotated[bool | None, patch_only(bool)] = None

    @field_validator("sku", "name", "attributes", "position", "active", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        return _null_refused(value)


class VariantAdminOut(BaseModel):
    id: str
    sku: str
    name: str
    price: int | None
    compare_at_price: int | None
    weight_grams: int | None
    attributes: dict[str, str]
    position: int
    active: bool
    available: int | None


class ProductAdminOut(BaseModel):
    id: str
    sku: str
    slug: str
    name: str
    description: str
    price: int
    currency: str
    compare_at_price: int | None
    images: list[str]
    category: str
    tags: list[str]
    weight_grams: int
    tax_category: str
    active: bool
    metadata: dict[str, Any]
    variants: list[VariantAdminOut]
    available: int | None
    created_at: datetime
    updated_at: datetime


class ProductListOut(BaseModel):
    items: list[ProductAdminOut]
    next_cursor: str | None


async def _stock(rt: Runtime, products: list[Product]) -> dict[str, int]:
    """Sellable stock by SKU, for the SKUs that have a stock row."""
    keys: list[tuple[str, str | None]] = [(p.id, None) for p in products]
    async with rt.db.reads() as s:
        rows = await inventory_public.stock_rows(s, keys)
    return {row.sku: inventory_public.level_of(rt, row).available for row in rows.values()}


def _variant_out(v: ProductVariant, stock: dict[str, int]) -> VariantAdminOut:
    return VariantAdminOut(
        id=v.id,
        sku=v.sku,
        name=v.name,
        price=v.price,
        compare_at_price=v.compare_at_price,
        weight_grams=v.weight_grams,
        attributes=dict(v.attributes or {}),
        position=v.position,
        active=v.active,
        available=stock.get(v.sku),
    )


def _out(p: Product, stock: dict[str, int]) -> ProductAdminOut:
    variants = [_variant_out(v, stock) for v in p.variants]
    known = [v.available for v in variants if v.available is not None]
    own = stock.get(p.sku)
    return ProductAdminOut(
        id=p.id,
        sku=p.sku,
        slug=p.slug,
        name=p.name,
        description=p.description or "",
        price=p.price,
        currency=p.currency,
        compare_at_price=p.compare_at_price,
        images=catalog_public.images_of(p),
        category=p.category,
        tags=list(p.tags or []),
        weight_grams=p.weight_grams,
        tax_category=p.tax_category,
        active=p.active,
        metadata=dict(p.meta or {}),
        variants=variants,
        available=own if own is not None else (sum(known) if known else None),
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


async def _answer(rt: Runtime, product: Product) -> ProductAdminOut:
    return _out(product, await _stock(rt, [product]))


_PRODUCT = "/api/admin/products/{product_id}"
_MADE: dict[int | str, dict[str, Any]] = {
    201: {
        "links": {
            "GetProduct": link("get", _PRODUCT, product_id="$response.body#/id"),
            "UpdateProduct": link("patch", _PRODUCT, product_id="$response.body#/id"),
        }
    }
}


@router.post(
    "", response_model=ProductAdminOut, status_code=201, responses={**_MADE, **ADMIN_ERRORS}
)
async def create_product(
    body: ProductIn, request: Request, rt: RuntimeDep, session: AdminDep
) -> ProductAdminOut:
    """Create a product (409 ``sku_taken`` if a product or variant has one of its SKUs)."""
    product = await catalog_public.create_product(
        rt, body.draft(), actor=request_actor(request, session)
    )
    return await _answer(rt, product)


@router.put(
    "/by-sku/{sku}",
    response_model=ProductAdminOut,
    responses={**_MADE, 200: {"description": "Updated, or already so."}, **ADMIN_ERRORS},
)
async def upsert_product(
    sku: SkuPath,
    body: ProductIn,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    session: AdminDep,
) -> ProductAdminOut:
    """Create (201) or replace (200) the product with this SKU; the body's ``sku`` must be
    the same. Sending the same body again changes nothing, not even ``updated_at``."""
    if body.sku.upper() != sku.upper():
        raise InvalidInput(
            "The body's SKU differs from the one in the URL.",
            code="sku_mismatch",
            fields=[FieldError(("sku",), "sku_mismatch", "Must equal the SKU in the URL.")],
        )
    product, outcome = await catalog_public.upsert_product(
        rt, body.draft(), actor=request_actor(request, session)
    )
    response.status_code = 201 if outcome == "created" else 200
    return await _answer(rt, product)


@router.get("", response_model=ProductListOut, responses=ADMIN_ERRORS)
async def list_products(
    rt: RuntimeDep,
    session: AdminDep,
    cursor: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=catalog_public.PRODUCT_ID_PATTERN,
            json_schema_extra=OPAQUE_TOKEN,
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    q: Annotated[str | None, Query(max_length=100)] = None,
    active: bool | None = None,
    category: Annotated[str | None, Query(max_length=80)] = None,
) -> ProductListOut:
    """Products (active or not) in id order; ``q`` matches name or SKU (any case)."""
    rows, nxt = await catalog_public.find_products(
        rt, after=cursor, limit=limit, q=q, active=active, category=category
    )
    stock = await _stock(rt, rows)
    return ProductListOut(items=[_out(p, stock) for p in rows], next_cursor=nxt)


@router.get("/{product_id}", response_model=ProductAdminOut, responses=ADMIN_ERRORS)
async def get_product(product_id: ProductId, rt: RuntimeDep, session: AdminDep) -> ProductAdminOut:
    """One product, active or not, with its variants and stock."""
    return await _answer(rt, await catalog_public.read_product(rt, product_id))


@router.patch("/{product_id}", response_model=ProductAdminOut, responses=ADMIN_ERRORS)
async def update_product(
    product_id: ProductId, body: ProductPatch, request: Request, rt: RuntimeDep, session: AdminDep
) -> ProductAdminOut:
    """Change some fields; the product is checked as a whole afterwards."""
    product = await catalog_public.update_product(
        rt, product_id, body.model_dump(exclude_unset=True), actor=request_actor(request, session)
    )
    return await _answer(rt, product)


@router.post(
    "/{product_id}/variants",
    response_model=VariantAdminOut,
    status_code=201,
    responses=ADMIN_ERRORS,
)
async def add_variant(
    product_id: ProductId, body: VariantIn, request: Request, rt: RuntimeDep, session: AdminDep
) -> VariantAdminOut:
    """Add a variant (its SKU unique across products and variants)."""
    variant = await catalog_public.add_variant(
        rt, product_id, body.draft(), actor=request_actor(request, session)
    )
    product = await catalog_public.read_product(rt, product_id)
    return _variant_out(variant, await _stock(rt, [product]))


@router.patch(
    "/{product_id}/variants/{variant_id}", response_model=VariantAdminOut, responses=ADMIN_ERRORS
)
async def update_variant(
    product_id: ProductId,
    variant_id: VariantId,
    body: VariantPatch,
    request: Request,
    rt: RuntimeDep,
    session: AdminDep,
) -> VariantAdminOut:
    """Change some fields of a variant."""
    variant = await catalog_public.update_variant(
        rt,
        product_id,
        variant_id,
        body.model_dump(exclude_unset=True),
        actor=request_actor(request, session),
    )
    product = await catalog_public.read_product(rt, product_id)
    return _variant_out(variant, await _stock(rt, [product]))
