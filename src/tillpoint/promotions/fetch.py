"""Load what the pure rules need, once: coupons as :class:`CouponRule`, the configured
:class:`CombinabilityRules`, and how often a customer already used each coupon."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.config import Settings
from tillpoint.errors import NotFound
from tillpoint.promotions.codes import normalize_code
from tillpoint.promotions.models import Coupon, CouponCustomerUsage, CouponHold
from tillpoint.promotions.rules import BuyXGetY, CombinabilityRules, CouponRule, CouponType


def combinability_rules(settings: Settings) -> CombinabilityRules:
    """The shop's combinability rules from its settings."""
    return CombinabilityRules(
        max_coupons_per_order=settings.coupon_max_per_order,
        allow_percentage_with_fixed=settings.coupon_allow_percentage_with_fixed,
        allow_multiple_percentage=settings.coupon_allow_multiple_percentage,
        allow_free_shipping_combination=settings.coupon_allow_free_shipping_combination,
        priority_order=tuple(CouponType(t) for t in settings.coupon_priority_order.split(",")),
        item_level_first=settings.coupon_item_level_first,
    )


def deal_of(meta: dict[str, Any]) -> BuyXGetY:
    """The buy-X-get-Y terms kept in a coupon's metadata."""
    return BuyXGetY(
        buy_quantity=int(meta["buy_quantity"]),
        get_quantity=int(meta["get_quantity"]),
        buy_products=frozenset(meta.get("buy_products") or ()),
        get_products=frozenset(meta.get("get_products") or ()),
    )


def rule_of(coupon: Coupon) -> CouponRule:
    """The pure view of a stored coupon."""
    kind = CouponType(coupon.type)
    return CouponRule(
        id=coupon.id,
        code=coupon.code,
        type=kind,
        value=coupon.value,
        starts_at=coupon.start_date,
        ends_at=coupon.end_date,
        currency=coupon.currency,
        minimum_order_amount=coupon.minimum_order_amount,
        maximum_discount=coupon.maximum_discount,
        usage_limit=coupon.usage_limit,
        usage_count=coupon.usage_count,
        per_customer_limit=coupon.per_customer_limit,
        is_active=coupon.is_active,
        combinable=coupon.combinable,
        applicable_products=frozenset(coupon.applicable_products or ()),
        excluded_products=frozenset(coupon.excluded_products or ()),
        buy_x_get_y=deal_of(coupon.meta) if kind is CouponType.buy_x_get_y else None,
    )


# Coupons this unit of work already loaded, by id. A second SELECT of a loaded row would
# hand back the same identity-map object unchanged, so it is skipped: applying a coupon
# reads it by code, then checks and prices the cart's coupons by id. (Kept in ``s.info``:
# the identity map alone holds them weakly.)
_LOADED = "tillpoint.coupons"
_BY_CODE = select(Coupon).where(Coupon.code == bindparam("code"))
_BY_IDS = select(Coupon).where(Coupon.id.in_(bindparam("ids", expanding=True)))


def _loaded(s: AsyncSession) -> dict[str, Coupon]:
    loaded: dict[str, Coupon] = s.info.setdefault(_LOADED, {})
    return loaded


async def coupon_by_code(s: AsyncSession, code: str) -> Coupon | None:
    """The coupon a customer typed, matched case-insensitively and ignoring spaces."""
    normal = normalize_code(code)
    if not normal or len(normal) > 64:
        return None
    coupon = await s.scalar(_BY_CODE, {"code": normal})
    if coupon is not None:
        _loaded(s)[coupon.id] = coupon
    return coupon


async def coupons_by_id(s: AsyncSession, ids: Iterable[str]) -> dict[str, Coupon]:
    """The coupons with these ids, in one query (none for those already loaded)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    loaded = _loaded(s)
    found = {
        cid: loaded[cid]
        for cid in wanted
        if cid in loaded and not inspect(loaded[cid]).expired_attributes
    }
    missing = [cid for cid in wanted if cid not in found]
    if missing:
        for c in (await s.scalars(_BY_IDS, {"ids": missing})).all():
            found[c.id] = loaded[c.id] = c
    return {cid: found[cid] for cid in wanted if cid in found}


def customer_keys(user_id: str | None, email: str | None) -> list[str]:
    """The keys a customer's usage is counted under: the user and the email, when known."""
    keys = []
    if user_id:
        keys.append(f"user:{user_id}")
    if email:
        keys.append(f"email:{email.strip().lower()}")
    return keys


async def customer_uses(
    s: AsyncSession, coupon_ids: Sequence[str], keys: Sequence[str]
) -> dict[str, int]:
    """Per coupon, the most uses recorded under any of the customer's ``keys``."""
    if not coupon_ids or not keys:
        return {}
    rows = await s.execute(
        select(CouponCustomerUsage.coupon_id, CouponCustomerUsage.usage_count).where(
            CouponCustomerUsage.coupon_id.in_(list(coupon_ids)),
            CouponCustomerUsage.customer_key.in_(list(keys)),
        )
    )
    out: dict[str, int] = {}
    for coupon_id, count in rows:
        out[coupon_id] = max(out.get(coupon_id, 0), count)
    return out


async def held_by_cart(s: AsyncSession, cart_id: str, coupon_ids: Sequence[str]) -> set[str]:
    """The coupons among ``coupon_ids`` a checkout of ``cart_id`` holds a use of (so the
    use counted for them is this cart's own, not someone else's)."""
    if not coupon_ids:
        return set()
    return set(
        await s.scalars(
            select(CouponHold.coupon_id).where(
                CouponHold.cart_id == cart_id,
                CouponHold.status == "held",
                CouponHold.coupon_id.in_(list(coupon_ids)),
            )
        )
    )


async def get_coupon(s: AsyncSession, coupon_id: str) -> Coupon:
    """The stored coupon, or 404 ``coupon_not_found``."""
    coupon = await s.get(Coupon, coupon_id)
    if coupon is None:
        raise NotFound("No such coupon.", code="coupon_not_found")
    return coupon
