"""Catalog reads: product pages, single products, and the price a line would get now."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.errors import InvalidInput, NotFound
from tillpoint.runtime import Runtime

# Any id a product row may carry: ours are ``prod_`` + 22 base-62 characters, but a row
# written by hand or by another tool (SQL, an import) has its own, and the shop lists it,
# so its page and cart must find it too. Only the column's length and a URL-safe alphabet
# are required, and not 13 or more digits alone (the shape of a card number, which no
# request may carry).
PRODUCT_ID_PATTERN = r"^([0-9]{1,12}|[0-9]*[A-Za-z][A-Za-z0-9_.:-]*)$"
_PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)


def is_product_id(value: str) -> bool:
    """True if ``value`` can be a product's id (ours or one written outside tillpoint)."""
    return len(value) <= 40 and bool(_PRODUCT_ID.match(value))


@dataclass(frozen=True, slots=True)
class Sellable:
    """What a cart line points at, resolved against the catalog now."""

    product: Product
    variant: ProductVariant | None

    @property
    def unit_price(self) -> int:
        if self.variant is not None and self.variant.price is not None:
            return self.variant.price
        return self.product.price

    @property
    def sku(self) -> str:
        return self.variant.sku if self.variant is not None else self.product.sku

    @property
    def name(self) -> str:
        if self.variant is None:
            return self.product.name
        return f"{self.product.name} — {self.variant.name}"

    @property
    def weight_grams(self) -> int:
        if self.variant is not None and self.variant.weight_grams is not None:
            return self.variant.weight_grams
        return self.product.weight_grams

    @property
    def active(self) -> bool:
        return self.product.active and (self.variant is None or self.variant.active)


# The category of products that are sold but not shown (see catalog/unlisted.py).
UNLISTED = "_unlisted"

# Statements built once (building and cache-keying one costs about what running it does).
# Variants are joined in: one statement, not the product SELECT plus a selectin one.
_WITH_VARIANTS = select(Product).options(joinedload(Product.variants))
_PRODUCT = _WITH_VARIANTS.where(Product.id == bindparam("product_id"))
_PRODUCTS = _WITH_VARIANTS.where(Product.id.in_(bindparam("ids", expanding=True)))
_PAGES: dict[tuple[bool, bool], Select[Product]] = {}


def _page_query(after: bool, category: bool) -> Select[Product]:
    """The page statement for this combination of filters, built on first use."""
    built = _PAGES.get((after, category))
    if built is None:
        # Products made for checkout sessions' own lines are sold, never listed.
        q = _WITH_VARIANTS.where(Product.active.is_(True), Product.category != UNLISTED)
        if after:
            q = q.where(Product.id > bindparam("after"))
        if category:
            q = q.where(Product.category == bindparam("category"))
        built = _PAGES[(after, category)] = q.order_by(Product.id).limit(bindparam("limit"))
    return built


async def list_products(
    rt: Runtime, *, after: str | None = None, limit: int = 50, category: str | None = None
) -> tuple[list[Product], str | None]:
    """Active products ordered by id, a page at a time; returns the page and the next cursor."""
    q = _page_query(bool(after), bool(category))
    params = {"after": after, "category": category, "limit": limit + 1}
    async with rt.db.reads() as s:
        rows = list((await s.scalars(q, params)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


async def get_product(rt: Runtime, product_id: str) -> Product:
    """One product (active or not) by id, or ``NotFound``."""
    if not is_product_id(product_id):
        raise NotFound("No such product.", code="product_not_found")
    async with rt.db.reads() as s:
        product = (await s.scalars(_PRODUCT, {"product_id": product_id})).unique().one_or_none()
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    return product


async def existing_product_ids(rt: Runtime, product_ids: Sequence[str]) -> set[str]:
    """Which of these ids name a product (active or not)."""
    wanted = [p for p in product_ids if is_product_id(p)]
    if not wanted:
        return set()
    async with rt.db.reads() as s:
        return set(await s.scalars(select(Product.id).where(Product.id.in_(wanted))))


async def get_product_by_slug(rt: Runtime, slug: str) -> Product:
    """The active product with this slug (its shop page), or ``NotFound``."""
    async with rt.db.reads() as s:
        stmt = _WITH_VARIANTS.where(
            Product.slug == slug, Product.active.is_(True), Product.category != UNLISTED
        )
        product = (await s.scalars(stmt)).unique().one_or_none()
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    return product


async def resolve_sellable(s: AsyncSession, product_id: str, variant_id: str | None) -> Sellable:
    """The product (and variant) a customer asked to buy, checked to be sellable now."""
    found = (
        (await sellables_for(s, [(product_id, None)])).get((product_id, None))
        if is_product_id(product_id)
        else None
    )
    product = found.product if found is not None else None
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    variant: ProductVariant | None = None
    if variant_id is not None:
        variant = next((v for v in product.variants if v.id == variant_id), None)
        if variant is None:
            raise InvalidInput(
                "That variant does not belong to this product.", code="variant_not_found"
            )
    elif any(v.active for v in product.variants):
        raise InvalidInput("Choose a variant of this product.", code="variant_required")
    sellable = Sellable(product, variant)
    if not sellable.active:
        raise InvalidInput("This product is not for sale right now.", code="product_inactive")
    return sellable


_SEEN = "tillpoint.products"


async def sellables_for(
    s: AsyncSession, keys: list[tuple[str, str | None]]
) -> dict[tuple[str, str | None], Sellable]:
    """Resolve many (product, variant) pairs in one query, skipping the ones that vanished."""
    ids = sorted({p for p, _ in keys})
    if not ids:
        return {}
    # Products this unit of work already resolved are not read again: a cart write resolves
    # every line's product first, then answers with the whole cart. (Kept in ``s.info``:
    # the identity map alone holds them weakly.)
    seen: dict[str, Product] = s.info.setdefault(_SEEN, {})
    products = {
        pid: seen[pid] for pid in ids if pid in seen and not inspect(seen[pid]).expired_attributes
    }
    missing = [pid for pid in ids if pid not in products]
    if missing:
        found = {p.id: p for p in (await s.scalars(_PRODUCTS, {"ids": missing})).unique()}
        seen.update(found)
        products.update(found)
    out: dict[tuple[str, str | None], Sellable] = {}
    for pid, vid in keys:
        product = products.get(pid)
        if product is None:
            continue
        variant = next((v for v in product.variants if v.id == vid), None) if vid else None
        out[(pid, vid)] = Sellable(product, variant)
    return out
