"""The checkout's cart as pricing and the ``hasValidCartItems`` guard see it: one joined
read of cart, lines, products and variants (named columns, no ORM objects: this runs at
every checkout step), checked against today's catalog and stock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.cart.public import AppliedCoupon, Cart, CartItem
from tillpoint.catalog.public import Product, ProductVariant
from tillpoint.errors import FieldError
from tillpoint.inventory.public import cart_stock_problems
from tillpoint.promotions.public import PricingLine


@dataclass(frozen=True, slots=True)
class CartFacts:
    """The checkout's cart as pricing and the hasValidCartItems guard see it."""

    cart_id: str
    currency: str
    lines: tuple[PricingLine, ...]
    problems: tuple[FieldError, ...] = ()
    status: str = "active"
    version: int = 0
    user_id: str | None = None
    # Any coupon applied (read with the lines): without one, pricing skips the coupon read.
    has_coupons: bool = True
    session_id: str | None = None  # the guest session that owns the cart (no user yet)


_CART_LINES = (
    select(
        Cart.id.label("cart_id"),
        Cart.currency.label("currency"),
        Cart.status.label("status"),
        CartItem.id.label("item_id"),
        CartItem.product_id.label("product_id"),
        CartItem.variant_id.label("variant_id"),
        CartItem.quantity.label("quantity"),
        CartItem.price.label("price"),
        Product.id.label("found"),
        Product.active.label("p_active"),
        Product.price.label("p_price"),
        Product.weight_grams.label("p_weight"),
        Product.tax_category.label("tax_category"),
        Product.category.label("category"),
        ProductVariant.id.label("v_found"),
        ProductVariant.active.label("v_active"),
        ProductVariant.price.label("v_price"),
        ProductVariant.weight_grams.label("v_weight"),
        Cart.version.label("version"),
        Cart.user_id.label("owner"),
        Cart.session_id.label("owner_session"),
        exists().where(AppliedCoupon.cart_id == Cart.id).label("has_coupons"),
    )
    .select_from(Cart)
    .outerjoin(CartItem, CartItem.cart_id == Cart.id)
    .outerjoin(Product, Product.id == CartItem.product_id)
    # A variant counts only under its own product (as ``sellables_for`` resolves it).
    .outerjoin(
        ProductVariant,
        and_(ProductVariant.id == CartItem.variant_id, ProductVariant.product_id == Product.id),
    )
    .order_by(CartItem.position)
    .where(Cart.id == bindparam("cart_id"))
)
# Built once (not per step): the cart's lines, and the same under the cart's row lock.
_CART_LINES_LOCKED = _CART_LINES.with_for_update(of=Cart)


@dataclass(frozen=True, slots=True)
class _Demand:
    product_id: str
    variant_id: str | None
    quantity: int


async def load_cart_facts(s: AsyncSession, cart_id: str, *, lock: bool = False) -> CartFacts:
    """Read the cart's lines once, priced as stored, checked against today's catalog.

    One joined SELECT of cart, lines, products and variants, then one for the stock.
    ``lock``: the same SELECT takes the cart's row lock (CONFIRM_ORDER), so what it read
    is what gets reserved."""
    query = _CART_LINES_LOCKED if lock else _CART_LINES
    rows = (await s.execute(query, {"cart_id": cart_id})).all()
    if not rows:
        return CartFacts(cart_id, "USD", (), (FieldError(("cart",), "cart_missing", "Gone."),))
    cart = rows[0]
    lines: list[PricingLine] = []
    problems: list[FieldError] = []
    demand: list[_Demand] = []
    for pos, r in enumerate(row for row in rows if row.item_id is not None):
        problem = _line_problem(("cart", "items", pos), r)
        if problem is not None:
            problems.append(problem)
        lines.append(_pricing_line(r))
        demand.append(_Demand(r.product_id, r.variant_id, r.quantity))
    if cart.status != "active":
        problems.append(FieldError(("cart",), "cart_not_active", "This cart is closed."))
    # Stock at every step: lines the stock cannot cover now (the cart's own holds count).
    problems.extend(await cart_stock_problems(s, cart_id, demand))
    return CartFacts(
        cart_id,
        cart.currency,
        tuple(lines),
        tuple(problems),
        cart.status,
        cart.version,
        cart.owner,
        bool(cart.has_coupons),
        cart.owner_session,
    )


def _line_problem(path: tuple[str | int, ...], r: Any) -> FieldError | None:
    """Why a line can no longer be bought as it is (gone, off sale, repriced), if it can't."""
    has_variant = r.v_found is not None
    active = bool(r.p_active) and (not has_variant or bool(r.v_active))
    unit_price = r.v_price if has_variant and r.v_price is not None else r.p_price
    if r.found is None or not active:
        return FieldError(path, "item_unavailable", "This item is no longer sold.")
    if unit_price != r.price:
        return FieldError(
            path,
            "price_changed",
            f"The price changed from {r.price} to {unit_price}; review the cart.",
        )
    return None


def _pricing_line(r: Any) -> PricingLine:
    """A cart line as pricing reads it: at the price stored in the cart."""
    found = r.found is not None
    weight = r.v_weight if r.v_found is not None and r.v_weight is not None else r.p_weight
    return PricingLine(
        line_id=r.item_id,
        product_id=r.product_id,
        variant_id=r.variant_id,
        quantity=r.quantity,
        unit_price=r.price,
        tax_category=str(r.tax_category) if found else "standard",
        weight_grams=int(weight or 0) if found else 0,
        category=str(r.category) if found else "general",
    )
