"""Managing the catalog (admin API and CLI import): create, upsert by SKU, change, list,
and variants. Every change is audited in the unit of work that makes it.

Prices change for new cart lines only: a cart line keeps the unit price it was added at,
and the cart view reports ``price_changed`` once the catalog price moves away from it."""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified

from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.catalog.models import Product, ProductVariant, images_of
from tillpoint.errors import Conflict, FieldError, InvalidInput, NotFound
from tillpoint.ids import new_id
from tillpoint.money import KNOWN_CURRENCIES, MAX_AMOUNT
from tillpoint.runtime import Runtime

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$"
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# An absolute http(s) URL in ASCII (a host in punycode, anything else percent-encoded):
# nothing a browser would read as a script, a data: blob or a relative path.
IMAGE_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$"
_SKU = re.compile(SKU_PATTERN)
_SLUG = re.compile(SLUG_PATTERN)
_IMAGE_URL = re.compile(IMAGE_URL_PATTERN)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_DESCRIPTION = 20_000
MAX_IMAGES = 20
MAX_TAGS = 50
MAX_WEIGHT = 1_000_000  # grams; the column is a 32-bit INTEGER
MAX_METADATA_BYTES = 8_000
MAX_VARIANTS = 200


@dataclass(frozen=True, slots=True)
class VariantDraft:
    """A variant as an admin describes it; ``price`` None means the product's price."""

    sku: str
    name: str
    price: int | None = None
    compare_at_price: int | None = None
    weight_grams: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    position: int | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class ProductDraft:
    """A product as an admin describes it (money in minor units of ``currency``).
    ``slug`` None: made from the name (kept on an update); ``variants`` None: left as they
    are (an upsert), a tuple: exactly these are active (others are switched off)."""

    sku: str
    name: str
    price: int
    currency: str | None = None
    slug: str | None = None
    description: str = ""
    compare_at_price: int | None = None
    images: tuple[str, ...] = ()
    category: str = "general"
    tags: tuple[str, ...] = ()
    weight_grams: int = 0
    tax_category: str = "standard"
    active: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    variants: tuple[VariantDraft, ...] | None = None


PRODUCT_FIELDS = frozenset(f.name for f in dataclasses.fields(ProductDraft)) - {"variants"}
VARIANT_FIELDS = frozenset(f.name for f in dataclasses.fields(VariantDraft))
# Fields every product has: a change may not set them to null.
NOT_NULLABLE = frozenset(
    {"sku", "name", "price", "currency", "slug", "description", "images", "category", "tags",
     "weight_grams", "tax_category", "active", "metadata"}
)  # fmt: skip


def slugify(text: str) -> str:
    """``"Gooseneck Kettle, 1 l"`` → ``"gooseneck-kettle-1-l"`` (ASCII, at most 100)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:100].strip("-")


def _text(path: tuple[str | int, ...], value: str, size: int, *, empty: bool) -> list[FieldError]:
    if not empty and not value.strip():
        return [FieldError(path, "required", "Cannot be empty.")]
    if len(value) > size:
        return [FieldError(path, "too_long", f"At most {size} characters.")]
    if _CONTROL.search(value):
        return [FieldError(path, "control_character", "Control characters are not allowed.")]
    return []


def _money(path: tuple[str | int, ...], value: int | None) -> list[FieldError]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        return [FieldError(path, "invalid_amount", f"A whole number from 0 to {MAX_AMOUNT}.")]
    return []


def _compare_at(path: tuple[str | int, ...], price: int, compare: int | None) -> list[FieldError]:
    if compare is not None and not _money(path, compare) and compare < price:
        msg = "The compare-at (was) price cannot be below the price."
        return [FieldError(path, "compare_at_below_price", msg)]
    return _money(path, compare)


def _image(path: tuple[str | int, ...], url: str) -> list[FieldError]:
    if len(url) > 500 or not _IMAGE_URL.match(url):
        msg = "An absolute http(s) URL in ASCII, at most 500 characters."
        return [FieldError(path, "invalid_image_url", msg)]
    return []


def check_variant(v: VariantDraft, price: int, at: tuple[str | int, ...]) -> list[FieldError]:
    """What is wrong with one variant (``at``: its path in the request)."""
    errors = [] if _SKU.match(v.sku) else [FieldError((*at, "sku"), "invalid_sku", _SKU_MSG)]
    errors += _text((*at, "name"), v.name, 200, empty=False)
    errors += _money((*at, "price"), v.price)
    own = v.price if v.price is not None and not _money((), v.price) else price
    errors += _compare_at((*at, "compare_at_price"), own, v.compare_at_price)
    if v.weight_grams is not None and not 0 <= v.weight_grams <= MAX_WEIGHT:
        errors.append(FieldError((*at, "weight_grams"), "out_of_range", _WEIGHT_MSG))
    for key, value in v.attributes.items():
        errors += _text((*at, "attributes", key), f"{key}{value}", 200, empty=False)
    return errors


_SKU_MSG = "Letters, digits and . _ / - (at most 64, starting with a letter or digit)."
_WEIGHT_MSG = f"Grams, from 0 to {MAX_WEIGHT}."


def _check_lists(d: ProductDraft) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(d.images) > MAX_IMAGES:
        errors.append(FieldError(("images",), "too_many", f"At most {MAX_IMAGES} images."))
    for i, url in enumerate(d.images[:MAX_IMAGES]):
        errors += _image(("images", i), url)
    if len(d.tags) > MAX_TAGS:
        errors.append(FieldError(("tags",), "too_many", f"At most {MAX_TAGS} tags."))
    for i, tag in enumerate(d.tags[:MAX_TAGS]):
        errors += _text(("tags", i), tag, 50, empty=False)
    if len(json.dumps(d.metadata, default=str)) > MAX_METADATA_BYTES:
        msg = f"At most {MAX_METADATA_BYTES} bytes as JSON."
        errors.append(FieldError(("metadata",), "too_large", msg))
    variants = d.variants or ()
    if len(variants) > MAX_VARIANTS:
        errors.append(FieldError(("variants",), "too_many", f"At most {MAX_VARIANTS}."))
    skus = [d.sku.upper()]
    for i, v in enumerate(variants[:MAX_VARIANTS]):
        errors += check_variant(v, d.price, ("variants", i))
        if v.sku.upper() in skus:
            msg = "Each SKU is used once (product and variants)."
            errors.append(FieldError(("variants", i, "sku"), "duplicate_sku", msg))
        skus.append(v.sku.upper())
    return errors


def check_product(d: ProductDraft) -> list[FieldError]:
    """Everything wrong with a product draft, each with its field path (empty: fine)."""
    errors = [] if _SKU.match(d.sku) else [FieldError(("sku",), "invalid_sku", _SKU_MSG)]
    errors += _text(("name",), d.name, 200, empty=False)
    errors += _text(("description",), d.description, MAX_DESCRIPTION, empty=True)
    if d.slug is not None and not (_SLUG.match(d.slug) and len(d.slug) <= 120):
        msg = "Lower-case letters, digits and single hyphens (at most 120)."
        errors.append(FieldError(("slug",), "invalid_slug", msg))
    errors += _money(("price",), d.price)
    errors += _compare_at(("compare_at_price",), d.price, d.compare_at_price)
    if d.currency is not None and d.currency not in KNOWN_CURRENCIES:
        errors.append(FieldError(("currency",), "unknown_currency", "An ISO 4217 code we know."))
    errors += _text(("category",), d.category, 80, empty=False)
    if not re.fullmatch(r"[a-z0-9_-]{1,20}", d.tax_category):
        msg = "Lower-case letters, digits, _ and - (at most 20)."
        errors.append(FieldError(("tax_category",), "invalid_tax_category", msg))
    if not 0 <= d.weight_grams <= MAX_WEIGHT:
        errors.append(FieldError(("weight_grams",), "out_of_range", _WEIGHT_MSG))
    return errors + _check_lists(d)


def _touch(product: Product, now: datetime) -> None:
    # Written even when equal to the old value: else the column's ``onupdate`` (the
    # database's clock) would fire and leave the attribute expired after the flush.
    product.updated_at = now
    flag_modified(product, "updated_at")


def _refuse(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInput(
            "Some product fields are not valid.", code="invalid_product", fields=errors
        )


def sku_taken(path: tuple[str | int, ...], sku: str) -> Conflict:
    return Conflict(
        f"SKU {sku} is already used by another product or variant.",
        code="sku_taken",
        fields=[FieldError(path, "sku_taken", "SKUs are unique across products and variants.")],
    )


async def _sku_owner(s: AsyncSession, sku: str) -> str | None:
    """The id of the product that uses ``sku`` (itself or through a variant), if any."""
    found = await s.scalar(select(Product.id).where(func.upper(Product.sku) == sku.upper()))
    if found is None:
        stmt = select(ProductVariant.product_id).where(
            func.upper(ProductVariant.sku) == sku.upper()
        )
        found = await s.scalar(stmt)
    return found


async def _check_skus(s: AsyncSession, d: ProductDraft, product_id: str | None) -> None:
    """409 ``sku_taken`` if any SKU of the draft belongs to another product."""
    pairs: list[tuple[tuple[str | int, ...], str]] = [(("sku",), d.sku)]
    pairs += [(("variants", i, "sku"), v.sku) for i, v in enumerate(d.variants or ())]
    for path, sku in pairs:
        owner = await _sku_owner(s, sku)
        if owner is not None and owner != product_id:
            raise sku_taken(path, sku)


async def _free_slug(s: AsyncSession, base: str, product_id: str | None) -> str:
    """``base``, or ``base-2``, ``base-3``… : the first not used by another product."""
    base = base or "product"
    stmt = select(Product.slug, Product.id).where(
        or_(Product.slug == base, Product.slug.like(base + "-%"))
    )
    taken = {slug for slug, pid in (await s.execute(stmt)).all() if pid != product_id}
    n, slug = 1, base
    while slug in taken:
        n += 1
        slug = f"{base[: 119 - len(str(n))]}-{n}"
    return slug


def _product_values(d: ProductDraft, currency: str) -> dict[str, Any]:
    """The column values a draft gives a product (``slug`` is settled separately)."""
    return {
        "sku": d.sku,
        "name": d.name,
        "description": d.description,
        "price": d.price,
        "currency": d.currency or currency,
        "compare_at_price": d.compare_at_price,
        "images": list(d.images),
        "image_url": d.images[0] if d.images else None,
        "category": d.category,
        "tags": list(d.tags),
        "weight_grams": d.weight_grams,
        "tax_category": d.tax_category,
        "active": d.active,
        "meta": dict(d.metadata),
    }


def _variant_values(v: VariantDraft, position: int) -> dict[str, Any]:
    return {
        "sku": v.sku,
        "name": v.name,
        "price": v.price,
        "compare_at_price": v.compare_at_price,
        "weight_grams": v.weight_grams,
        "attributes": dict(v.attributes),
        "position": v.position if v.position is not None else position,
        "active": v.active,
    }


def _assign(row: Product | ProductVariant, values: dict[str, Any]) -> list[str]:
    """Set the values that differ; returns the names of those that changed."""
    changed = []
    for name, value in values.items():
        current = images_of(row) if name == "images" and isinstance(row, Product) else None
        old = current if current is not None else getattr(row, name)
        if old != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def _sync_variants(product: Product, drafts: tuple[VariantDraft, ...] | None) -> list[str]:
    """Upsert the drafts' variants by SKU; the product's other variants are switched off."""
    if drafts is None:
        return []
    changed: list[str] = []
    by_sku = {v.sku.upper(): v for v in product.variants}
    listed = set()
    for pos, draft in enumerate(drafts):
        row = by_sku.get(draft.sku.upper())
        listed.add(draft.sku.upper())
        if row is None:
            row = ProductVariant(id=new_id("var"), product_id=product.id)
            product.variants.append(row)
            changed.append(f"variants.{draft.sku}")
            _assign(row, _variant_values(draft, pos))
        elif _assign(row, _variant_values(draft, pos)):
            changed.append(f"variants.{draft.sku}")
    for sku, row in by_sku.items():
        if sku not in listed and row.active:
            row.active = False
            changed.append(f"variants.{row.sku}")
    return changed


async def _audit(
    rt: Runtime, s: AsyncSession, product: Product, action: str, actor: Actor, info: dict[str, Any]
) -> None:
    event = AuditEvent(
        f"product_{action}", "product", product.id, action, {"sku": product.sku, **info}
    )
    await record(s, event, actor, rt.clock.now())


_LOAD = select(Product).options(selectinload(Product.variants))


async def _load(s: AsyncSession, product_id: str) -> Product:
    product = (await s.scalars(_LOAD.where(Product.id == product_id))).one_or_none()
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    return product


async def _settle_slug(s: AsyncSession, d: ProductDraft, product: Product | None) -> str:
    """The explicit slug (409 ``slug_taken`` if another product has it), the product's own
    on an update, or one made from the name and made unique."""
    pid = product.id if product is not None else None
    if d.slug is None:
        return (
            product.slug
            if product is not None
            else await _free_slug(s, slugify(d.name) or slugify(d.sku), None)
        )
    other = await s.scalar(select(Product.id).where(Product.slug == d.slug))
    if other is not None and other != pid:
        raise Conflict(
            "Another product has this slug.",
            code="slug_taken",
            fields=[FieldError(("slug",), "slug_taken", "Slugs are unique.")],
        )
    return d.slug


async def _write(
    rt: Runtime, s: AsyncSession, d: ProductDraft, product: Product | None, actor: Actor
) -> tuple[Product, bool]:
    """Create ``d`` (``product`` None) or bring ``product`` to it, audited; returns the
    product and whether anything changed."""
    await _check_skus(s, d, product.id if product is not None else None)
    slug = await _settle_slug(s, d, product)
    values = {**_product_values(d, rt.settings.default_currency), "slug": slug}
    created = product is None
    if product is None:
        product = Product(id=new_id("prod"), variants=[])
        s.add(product)
    old_price = product.price
    changed = _assign(product, values) + _sync_variants(product, d.variants)
    if not changed:
        return product, False
    _touch(product, rt.clock.now())
    if created:
        product.created_at = product.updated_at
    await s.flush()
    info: dict[str, Any] = {"changed": changed}
    if not created and "price" in changed:
        info["price"] = {"from": old_price, "to": product.price}
    await _audit(rt, s, product, "created" if created else "updated", actor, info)
    return product, True


async def create_product(rt: Runtime, d: ProductDraft, *, actor: Actor = SYSTEM) -> Product:
    """Create a product (422 ``invalid_product`` with field errors, 409 ``sku_taken``)."""
    _refuse(check_product(d))
    try:
        async with rt.db.transaction() as s:
            product, _ = await _write(rt, s, d, None, actor)
    except IntegrityError as exc:  # a concurrent write took the SKU or slug
        raise sku_taken(("sku",), d.sku) from exc
    return product


async def upsert_in(
    rt: Runtime, s: AsyncSession, d: ProductDraft, actor: Actor
) -> tuple[Product, str]:
    """:func:`upsert_product` in the caller's unit of work ``s`` (refusals raise before
    anything is written, so ``s`` stays usable for the next product)."""
    _refuse(check_product(d))
    pid = await s.scalar(select(Product.id).where(func.upper(Product.sku) == d.sku.upper()))
    current = await _load(s, pid) if pid is not None else None
    product, changed = await _write(rt, s, d, current, actor)
    return product, "created" if current is None else "updated" if changed else "unchanged"


async def upsert_product(
    rt: Runtime, d: ProductDraft, *, actor: Actor = SYSTEM
) -> tuple[Product, str]:
    """Create the product with ``d.sku`` or bring it to ``d``; returns it and what
    happened: ``created``, ``updated`` or ``unchanged`` (nothing written, not even
    ``updated_at`` or an audit row)."""
    _refuse(check_product(d))
    try:
        async with rt.db.transaction() as s:
            return await upsert_in(rt, s, d, actor)
    except IntegrityError as exc:  # a concurrent write took the SKU or slug
        raise sku_taken(("sku",), d.sku) from exc


def draft_of(product: Product) -> ProductDraft:
    """The draft that describes ``product`` as it is (variants included)."""
    return ProductDraft(
        sku=product.sku,
        name=product.name,
        price=product.price,
        currency=product.currency,
        slug=product.slug,
        description=product.description or "",
        compare_at_price=product.compare_at_price,
        images=tuple(images_of(product)),
        category=product.category,
        tags=tuple(product.tags or ()),
        weight_grams=product.weight_grams,
        tax_category=product.tax_category,
        active=product.active,
        metadata=dict(product.meta or {}),
        variants=tuple(variant_draft_of(v) for v in product.variants),
    )


def variant_draft_of(v: ProductVariant) -> VariantDraft:
    return VariantDraft(
        sku=v.sku,
        name=v.name,
        price=v.price,
        compare_at_price=v.compare_at_price,
        weight_grams=v.weight_grams,
        attributes=dict(v.attributes or {}),
        position=v.position,
        active=v.active,
    )


def _refuse_nulls(
    changes: dict[str, Any], allowed: frozenset[str], nullable: frozenset[str]
) -> None:
    unknown = sorted(set(changes) - allowed)
    nulled = sorted(k for k in set(changes) - nullable if changes[k] is None and k in allowed)
    errors = [FieldError((k,), "not_editable", "Not editable.") for k in unknown]
    errors += [FieldError((k,), "null_not_allowed", "Cannot be null.") for k in nulled]
    _refuse(errors)


async def update_product(
    rt: Runtime, product_id: str, changes: dict[str, Any], *, actor: Actor = SYSTEM
) -> Product:
    """Change some fields (absent: kept; null for a field every product has: 422)."""
    _refuse_nulls(changes, PRODUCT_FIELDS, PRODUCT_FIELDS - NOT_NULLABLE)
    try:
        async with rt.db.transaction() as s:
            product = await _load(s, product_id)
            fixed: dict[str, Any] = {
                k: tuple(v) if k in ("images", "tags") else v for k, v in changes.items()
            }
            draft = dataclasses.replace(draft_of(product), variants=None, **fixed)
            _refuse(check_product(draft))
            product, _ = await _write(rt, s, draft, product, actor)
    except IntegrityError as exc:
        raise sku_taken(("sku",), str(changes.get("sku", ""))) from exc
    return product


async def add_variant(
    rt: Runtime, product_id: str, v: VariantDraft, *, actor: Actor = SYSTEM
) -> ProductVariant:
    """Add a variant to a product (409 ``sku_taken`` if any product or variant has its SKU)."""
    try:
        async with rt.db.transaction() as s:
            product = await _load(s, product_id)
            _refuse(check_variant(v, product.price, ()))
            if await _sku_owner(s, v.sku) is not None or v.sku.upper() == product.sku.upper():
                raise sku_taken(("sku",), v.sku)
            row = ProductVariant(id=new_id("var"), product_id=product.id)
            _assign(row, _variant_values(v, len(product.variants)))
            product.variants.append(row)
            _touch(product, rt.clock.now())
            await s.flush()
            await _audit(rt, s, product, "variant_added", actor, {"variant_sku": v.sku})
    except IntegrityError as exc:
        raise sku_taken(("sku",), v.sku) from exc
    return row


async def update_variant(
    rt: Runtime, product_id: str, variant_id: str, changes: dict[str, Any], *, actor: Actor = SYSTEM
) -> ProductVariant:
    """Change some fields of a variant (``price`` null: the product's price again)."""
    nullable = frozenset({"price", "compare_at_price", "weight_grams"})
    _refuse_nulls(changes, VARIANT_FIELDS, nullable)
    try:
        async with rt.db.transaction() as s:
            product = await _load(s, product_id)
            row = next((v for v in product.variants if v.id == variant_id), None)
            if row is None:
                raise NotFound("No such variant of this product.", code="variant_not_found")
            draft = dataclasses.replace(variant_draft_of(row), **changes)
            _refuse(check_variant(draft, product.price, ()))
            owner = await _sku_owner(s, draft.sku)
            if draft.sku.upper() != row.sku.upper() and owner is not None:
                raise sku_taken(("sku",), draft.sku)
            changed = _assign(row, _variant_values(draft, row.position))
            if changed:
                _touch(product, rt.clock.now())
                await s.flush()
                info = {"variant_sku": row.sku, "changed": changed}
                await _audit(rt, s, product, "variant_updated", actor, info)
    except IntegrityError as exc:
        raise sku_taken(("sku",), str(changes.get("sku", ""))) from exc
    return row


async def read_product(rt: Runtime, product_id: str) -> Product:
    """One product with its variants, active or not (404 ``product_not_found``)."""
    async with rt.db.reads() as s:
        return await _load(s, product_id)


async def find_products(
    rt: Runtime,
    *,
    after: str | None = None,
    limit: int = 50,
    q: str | None = None,
    active: bool | None = None,
    category: str | None = None,
) -> tuple[list[Product], str | None]:
    """Products in id order, filtered (``q``: in the name or SKU, any case); returns a
    page and the cursor of the next one."""
    stmt = _LOAD.order_by(Product.id).limit(limit + 1)
    if after:
        stmt = stmt.where(Product.id > after)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    if category:
        stmt = stmt.where(Product.category == category)
    if q:
        like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(Product.name).like(like, escape="\\"),
                func.lower(Product.sku).like(like, escape="\\"),
            )
        )
    async with rt.db.reads() as s:
        rows = list((await s.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


async def all_products(rt: Runtime) -> list[Product]:
    """Every product with its variants, by SKU (for export)."""
    async with rt.db.reads() as s:
        return list((await s.scalars(_LOAD.order_by(Product.sku))).all())
