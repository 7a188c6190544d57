"""Managing coupons (admin API and CLI): create, bulk-create single-use codes, list,
update, deactivate. Every change is audited in its own unit of work."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.catalog.public import Product
from tillpoint.errors import Conflict, FieldError, InvalidInput
from tillpoint.ids import new_id
from tillpoint.money import BASIS_POINTS, KNOWN_CURRENCIES, MAX_AMOUNT
from tillpoint.promotions.codes import is_valid_code, normalize_code, random_code
from tillpoint.promotions.fetch import get_coupon
from tillpoint.promotions.models import Coupon
from tillpoint.promotions.rules import CouponType
from tillpoint.runtime import Runtime

MAX_BATCH = 10_000
MAX_PRODUCTS = 500
# Usage limits (total and per customer) are counts in 32-bit INTEGER columns.
MAX_USES = 1_000_000_000
# Fields a coupon always has: a change may not set them to null (the others clear).
NOT_NULLABLE = frozenset(
    {
        "code", "type", "value", "start_date", "end_date", "is_active", "combinable",
        "applicable_products", "excluded_products", "metadata",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CouponDraft:
    """A coupon as an admin describes it (amounts in minor units, percentages in bp)."""

    code: str
    type: str
    value: int
    start_date: datetime
    end_date: datetime
    currency: str | None = None
    minimum_order_amount: int | None = None
    maximum_discount: int | None = None
    usage_limit: int | None = None
    per_customer_limit: int | None = None
    is_active: bool = True
    combinable: bool = False
    applicable_products: tuple[str, ...] = ()
    excluded_products: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


EDITABLE = frozenset(f.name for f in dataclasses.fields(CouponDraft))


def _draft_of(coupon: Coupon) -> CouponDraft:
    return CouponDraft(
        code=coupon.code,
        type=coupon.type,
        value=coupon.value,
        start_date=coupon.start_date,
        end_date=coupon.end_date,
        currency=coupon.currency,
        minimum_order_amount=coupon.minimum_order_amount,
        maximum_discount=coupon.maximum_discount,
        usage_limit=coupon.usage_limit,
        per_customer_limit=coupon.per_customer_limit,
        is_active=coupon.is_active,
        combinable=coupon.combinable,
        applicable_products=tuple(coupon.applicable_products or ()),
        excluded_products=tuple(coupon.excluded_products or ()),
        metadata=dict(coupon.meta or {}),
    )


def check_draft(draft: CouponDraft, default_currency: str) -> CouponDraft:
    """The draft normalised (code, currency), or :class:`InvalidInput` listing every problem."""
    errors: list[FieldError] = []

    def bad(path: str, code: str, message: str) -> None:
        errors.append(FieldError((path,), code, message))

    code = normalize_code(draft.code)
    if not is_valid_code(code):
        bad(
            "code",
            "invalid_code",
            "1-64 letters, digits, '-' or '_', starting with one of the first two.",
        )
    kind = draft.type if draft.type in CouponType.__members__ else None
    if kind is None:
        bad("type", "invalid_type", f"One of {', '.join(CouponType.__members__)}.")
    if kind in {"percentage", "buy_x_get_y"} and not 1 <= draft.value <= BASIS_POINTS:
        bad("value", "value_out_of_range", "A percentage in basis points: 1 to 10000.")
    if kind == "fixed_amount" and not 1 <= draft.value <= MAX_AMOUNT:
        bad("value", "value_out_of_range", f"A fixed amount of 1 to {MAX_AMOUNT} minor units.")
    if kind == "free_shipping" and draft.value != 0:
        bad("value", "value_out_of_range", "Free shipping coupons have value 0.")
    if kind == "buy_x_get_y":
        _check_deal(draft.metadata, bad)
    for name in ("start_date", "end_date"):
        if getattr(draft, name).tzinfo is None:
            bad(name, "timezone_required", "Give a timezone, e.g. 2026-01-01T00:00:00Z.")
    if not errors and draft.end_date <= draft.start_date:
        bad("end_date", "end_before_start", "The end must come after the start.")
    for name, least, most in (
        ("minimum_order_amount", 0, MAX_AMOUNT),
        ("maximum_discount", 1, MAX_AMOUNT),
        ("usage_limit", 1, MAX_USES),
        ("per_customer_limit", 1, MAX_USES),
    ):
        amount = getattr(draft, name)
        if amount is not None and not least <= amount <= most:
            bad(name, "value_out_of_range", f"{least} to {most}.")
    currency = draft.currency
    needs_currency = kind == "fixed_amount" or (
        draft.minimum_order_amount is not None or draft.maximum_discount is not None
    )
    if currency is None and needs_currency:
        currency = default_currency
    if currency is not None and currency not in KNOWN_CURRENCIES:
        bad("currency", "unknown_currency", "An ISO 4217 currency code we know.")
    both = set(draft.applicable_products) & set(draft.excluded_products)
    if both:
        bad("excluded_products", "product_both_ways", "A product is both applicable and excluded.")
    if errors:
        raise InvalidInput("The coupon is not valid.", code="invalid_coupon", fields=errors)
    return dataclasses.replace(draft, code=code, currency=currency)


def _check_deal(meta: dict[str, Any], bad: Any) -> None:
    for name in ("buy_quantity", "get_quantity"):
        n = meta.get(name)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            bad("metadata", "invalid_deal", f"metadata.{name} must be a whole number 1-1000.")
    for name in ("buy_products", "get_products"):
        ids = meta.get(name, [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            bad("metadata", "invalid_deal", f"metadata.{name} must be a list of product ids.")


async def _check_products(s: AsyncSession, draft: CouponDraft) -> None:
    deal = draft.metadata if draft.type == "buy_x_get_y" else {}
    named = {
        "applicable_products": set(draft.applicable_products),
        "excluded_products": set(draft.excluded_products),
        "metadata": set(deal.get("buy_products", [])) | set(deal.get("get_products", [])),
    }
    wanted = set().union(*named.values())
    if len(wanted) > MAX_PRODUCTS:
        raise InvalidInput(f"At most {MAX_PRODUCTS} products per coupon.", code="invalid_coupon")
    known = set(await s.scalars(select(Product.id).where(Product.id.in_(sorted(wanted)))))
    errors = [
        FieldError((path,), "product_not_found", f"No product {pid}.")
        for path, ids in named.items()
        for pid in sorted(ids - known)
    ]
    if errors:
        raise InvalidInput(
            "The coupon names unknown products.", code="invalid_coupon", fields=errors
        )


def _row(draft: CouponDraft, **extra: Any) -> Coupon:
    return Coupon(
        id=new_id("cpn"),
        code=draft.code,
        type=draft.type,
        value=draft.value,
        currency=draft.currency,
        minimum_order_amount=draft.minimum_order_amount,
        maximum_discount=draft.maximum_discount,
        start_date=draft.start_date,
        end_date=draft.end_date,
        usage_limit=draft.usage_limit,
        usage_count=0,
        per_customer_limit=draft.per_customer_limit,
        is_active=draft.is_active,
        combinable=draft.combinable,
        applicable_products=sorted(set(draft.applicable_products)),
        excluded_products=sorted(set(draft.excluded_products)),
        meta=dict(draft.metadata),
        **extra,
    )


def _code_taken(code: str) -> Conflict:
    return Conflict(
        "A coupon with this code exists.",
        code="coupon_code_taken",
        fields=[FieldError(("code",), "coupon_code_taken", "Codes are unique (any case).")],
    )


async def _audit(rt: Runtime, s: AsyncSession, coupon: Coupon, action: str, actor: Actor) -> None:
    await record(
        s,
        AuditEvent(f"coupon_{action}", "coupon", coupon.id, action, {"code": coupon.code}),
        actor,
        rt.clock.now(),
    )


async def create_coupon(rt: Runtime, draft: CouponDraft, *, actor: Actor = SYSTEM) -> Coupon:
    """Create one coupon; 422 ``invalid_coupon`` with field errors, 409 ``coupon_code_taken``."""
    draft = check_draft(draft, rt.settings.default_currency)
    try:
        async with rt.db.transaction() as s:
            await _check_products(s, draft)
            if await s.scalar(select(Coupon.id).where(Coupon.code == draft.code)):
                raise _code_taken(draft.code)
            coupon = _row(draft)
            s.add(coupon)
            await s.flush()
            await _audit(rt, s, coupon, "created", actor)
    except IntegrityError as exc:  # a concurrent create took the code
        raise _code_taken(draft.code) from exc
    return coupon


async def create_coupon_batch(
    rt: Runtime, draft: CouponDraft, *, count: int, prefix: str = "", actor: Actor = SYSTEM
) -> list[Coupon]:
    """Create ``count`` coupons like ``draft``, each with its own random single-use code.

    Every code is unique (checked against the database in one query and regenerated
    on a clash); each coupon has ``usage_limit`` 1 and ``per_customer_limit`` 1. The
    coupons share a ``batch_id``.
    """
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInput(
            f"Create 1 to {MAX_BATCH} codes at a time.",
            code="invalid_coupon",
            fields=[FieldError(("count",), "value_out_of_range", f"1 to {MAX_BATCH}.")],
        )
    prefix = normalize_code(prefix)
    if prefix and (not is_valid_code(prefix) or len(prefix) > 20):
        raise InvalidInput(
            "The prefix takes up to 20 letters, digits, '-' or '_'.",
            code="invalid_coupon",
            fields=[FieldError(("prefix",), "invalid_code", "Up to 20 letters or digits.")],
        )
    template = check_draft(
        dataclasses.replace(draft, code=prefix or "BATCH", usage_limit=1, per_customer_limit=1),
        rt.settings.default_currency,
    )
    batch_id = new_id("cpnb")
    async with rt.db.transaction() as s:
        await _check_products(s, template)
        codes: set[str] = set()
        while len(codes) < count:
            fresh = {random_code(prefix) for _ in range(count - len(codes))} - codes
            taken = set(await s.scalars(select(Coupon.code).where(Coupon.code.in_(sorted(fresh)))))
            codes |= fresh - taken
        coupons = [
            _row(dataclasses.replace(template, code=c), batch_id=batch_id) for c in sorted(codes)
        ]
        s.add_all(coupons)
        await s.flush()
        await record(
            s,
            AuditEvent(
                "coupon_batch_created", "coupon_batch", batch_id, "created", {"count": count}
            ),
            actor,
            rt.clock.now(),
        )
    return coupons


async def list_coupons(
    rt: Runtime,
    *,
    after: str | None = None,
    limit: int = 50,
    active: bool | None = None,
    batch_id: str | None = None,
) -> tuple[list[Coupon], str | None]:
    """Coupons by id, ``limit`` at a time after the cursor ``after``; returns the next cursor."""
    q = select(Coupon).order_by(Coupon.id).limit(limit + 1)
    if after:
        q = q.where(Coupon.id > after)
    if active is not None:
        q = q.where(Coupon.is_active.is_(active))
    if batch_id:
        q = q.where(Coupon.batch_id == batch_id)
    async with rt.db.transaction() as s:
        rows = list((await s.scalars(q)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


async def read_coupon(rt: Runtime, coupon_id: str) -> Coupon:
    """One coupon (404 ``coupon_not_found``)."""
    async with rt.db.transaction() as s:
        return await get_coupon(s, coupon_id)


async def update_coupon(
    rt: Runtime, coupon_id: str, changes: dict[str, Any], *, actor: Actor = SYSTEM
) -> Coupon:
    """Change some fields of a coupon (checked as a whole afterwards); usage is kept.

    Carts holding the coupon are re-checked against the new terms on their next change.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(
            "These fields cannot be changed.",
            code="invalid_coupon",
            fields=[FieldError((k,), "not_editable", "Not editable.") for k in sorted(unknown)],
        )
    nulled = sorted(k for k in NOT_NULLABLE & set(changes) if changes[k] is None)
    if nulled:
        raise InvalidInput(
            "These fields cannot be empty.",
            code="invalid_coupon",
            fields=[FieldError((k,), "null_not_allowed", "Cannot be null.") for k in nulled],
        )
    try:
        async with rt.db.transaction() as s:
            coupon = await get_coupon(s, coupon_id)
            draft = dataclasses.replace(_draft_of(coupon), **_as_draft_fields(changes))
            draft = check_draft(draft, rt.settings.default_currency)
            await _check_products(s, draft)
            if draft.code != coupon.code and await s.scalar(
                select(Coupon.id).where(Coupon.code == draft.code)
            ):
                raise _code_taken(draft.code)
            fresh = _row(draft)
            for name in (
                "code", "type", "value", "currency", "minimum_order_amount", "maximum_discount",
                "start_date", "end_date", "usage_limit", "per_customer_limit", "is_active",
                "combinable", "applicable_products", "excluded_products", "meta",
            ):  # fmt: skip
                setattr(coupon, name, getattr(fresh, name))
            coupon.updated_at = rt.clock.now()
            await s.flush()
            await _audit(rt, s, coupon, "updated", actor)
    except IntegrityError as exc:
        raise _code_taken(str(changes.get("code", ""))) from exc
    return coupon


def _as_draft_fields(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    for name in ("applicable_products", "excluded_products"):
        if name in out:
            out[name] = tuple(out[name] or ())
    if "metadata" in out:
        out["metadata"] = dict(out["metadata"] or {})
    return out


async def deactivate_coupon(rt: Runtime, coupon_id: str, *, actor: Actor = SYSTEM) -> Coupon:
    """Switch a coupon off: it can no longer be applied, and carts holding it drop it."""
    async with rt.db.transaction() as s:
        coupon = await get_coupon(s, coupon_id)
        if coupon.is_active:
            coupon.is_active = False
            coupon.updated_at = rt.clock.now()
            await _audit(rt, s, coupon, "deactivated", actor)
    return coupon


def coupon_to_dict(coupon: Coupon) -> dict[str, Any]:
    """The admin JSON shape of a coupon."""
    return {
        "id": coupon.id,
        "code": coupon.code,
        "type": coupon.type,
        "value": coupon.value,
        "currency": coupon.currency,
        "minimum_order_amount": coupon.minimum_order_amount,
        "maximum_discount": coupon.maximum_discount,
        "start_date": coupon.start_date,
        "end_date": coupon.end_date,
        "usage_limit": coupon.usage_limit,
        "usage_count": coupon.usage_count,
        "per_customer_limit": coupon.per_customer_limit,
        "is_active": coupon.is_active,
        "combinable": coupon.combinable,
        "applicable_products": list(coupon.applicable_products or []),
        "excluded_products": list(coupon.excluded_products or []),
        "metadata": dict(coupon.meta or {}),
        "batch_id": coupon.batch_id,
    }
