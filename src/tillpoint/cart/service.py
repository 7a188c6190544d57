"""The seed's ShoppingBagService: create, read, add/update/remove lines, clear, expire.

Every write locks the cart row first (``SELECT … FOR UPDATE`` on PostgreSQL, the
``BEGIN IMMEDIATE`` write lock on SQLite), so concurrent edits of one cart queue
instead of losing updates. ``version`` goes up by one per write; a caller that
sends ``If-Match`` with an older version gets 412 and the current cart. While a
checkout is paying for the cart, every write is refused with 409 ``cart_locked``.
Which checkout pays is the checkout's to say (``checkout/paying.py``); the composition
root hands that check in as ``rt.paying``, since the cart sits below the checkout.
Transient lock failures (deadlock, serialization, busy file) are retried.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from tillpoint.audit.events import CheckoutEventType
from tillpoint.audit.service import Actor, log_checkout_event
from tillpoint.cart import cache
from tillpoint.cart.applied_coupons import refresh_cart_coupons
from tillpoint.cart.locks import check_locked_quantity, refuse_if_locked, refuse_reserved_metadata
from tillpoint.cart.models import Cart, CartItem
from tillpoint.cart.queries import claim_expired_carts, lock_cart_row
from tillpoint.cart.view import (
    CartSnapshot,
    CartView,
    CouponSnapshot,
    LineSnapshot,
    build_view,
    cart_to_dict,
)
from tillpoint.catalog.public import resolve_sellable, sellables_for
from tillpoint.errors import Conflict, FieldError, InvalidInput, NotFound, PreconditionFailed
from tillpoint.ids import is_valid_id, new_id
from tillpoint.inventory.public import ensure_available, stock_status_for
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

# (checkout id, state) of the checkout paying for a cart, if one is; asked under the
# cart's row lock.
PayingCheck = Callable[[AsyncSession, str], Awaitable[tuple[str, str] | None]]

ACTIVE = "active"
ABANDONED = "abandoned"
CONVERTED = "converted"

# Statements built once: every cart request runs some, and building and cache-keying a
# statement costs about what running it does.
_VERSION = select(Cart.version, Cart.status).where(Cart.id == bindparam("cart_id"))
# Lines and coupons joined in: one statement instead of three (selectin).
_WITH_LINES = (
    select(Cart)
    .options(joinedload(Cart.items), joinedload(Cart.coupons))
    .where(Cart.id == bindparam("cart_id"))
)
_RELOAD_WITH_LINES = _WITH_LINES.execution_options(populate_existing=True)
# --- creating and reading -------------------------------------------------------------


async def create_cart(
    rt: Runtime,
    s: AsyncSession,
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    currency: str | None = None,
) -> Cart:
    """Add a new empty active cart to the unit of work ``s``."""
    cart = Cart(
        id=new_id("cart"),
        session_id=session_id,
        user_id=user_id,
        status=ACTIVE,
        currency=currency or rt.settings.default_currency,
        expires_at=rt.clock.now() + timedelta(seconds=rt.settings.cart_ttl_seconds),
        version=1,
    )
    s.add(cart)
    await s.flush()
    await log_checkout_event(
        s,
        CheckoutEventType.cart_created,
        cart_id=cart.id,
        actor=Actor(session_id=session_id, user_id=user_id),
        at=rt.clock.now(),
        metadata={"currency": cart.currency},
    )
    return cart


_INSERT_CART = insert(Cart)


@dataclasses.dataclass(frozen=True, slots=True)
class NewCart:
    """The row of a new empty cart, before it is inserted."""

    id: str
    session_id: str | None
    currency: str
    expires_at: datetime
    created_at: datetime
    user_id: str | None = None

    def values(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "status": ACTIVE,
            "currency": self.currency,
            "expires_at": self.expires_at,
            "version": 1,
        }


def new_cart(
    rt: Runtime, *, session_id: str | None, user_id: str | None = None, currency: str | None = None
) -> NewCart:
    """The row a new empty cart gets (for a caller that inserts it: :func:`insert_new_cart`)."""
    now = rt.clock.now()
    return NewCart(
        id=new_id("cart"),
        session_id=session_id,
        currency=currency or rt.settings.default_currency,
        expires_at=now + timedelta(seconds=rt.settings.cart_ttl_seconds),
        created_at=now,
        user_id=user_id,
    )


def new_guest_cart(rt: Runtime, *, session_id: str) -> NewCart:
    """The row a guest session's new empty cart gets (for a caller that inserts it)."""
    return new_cart(rt, session_id=session_id)


async def insert_new_cart(s: AsyncSession, cart: NewCart) -> None:
    """One Core INSERT of ``cart`` in ``s``'s transaction (no audit row: see
    :func:`record_cart_created`, which the caller sends after its other locks)."""
    await (await s.connection()).execute(_INSERT_CART, cart.values())


async def record_cart_created(s: AsyncSession, cart: NewCart) -> None:
    """The ``cart_created`` audit row of a new cart, in ``s``'s transaction."""
    await log_checkout_event(
        s,
        CheckoutEventType.cart_created,
        cart_id=cart.id,
        actor=Actor(session_id=cart.session_id, user_id=cart.user_id),
        at=cart.created_at,
        metadata={"currency": cart.currency},
    )


async def create_guest_cart(rt: Runtime, s: AsyncSession, *, session_id: str) -> str:
    """A new empty cart owned by a guest session (the seed's createGuestCart); its id.

    One Core INSERT in ``s``'s transaction, not an ORM object and a flush: every new
    visitor runs this, and nothing here needs the object."""
    cart = new_guest_cart(rt, session_id=session_id)
    await insert_new_cart(s, cart)
    await record_cart_created(s, cart)
    return cart.id


def snapshot(cart: Cart) -> CartSnapshot:
    return CartSnapshot(
        id=cart.id,
        version=cart.version,
        currency=cart.currency,
        status=cart.status,
        user_id=cart.user_id,
        session_id=cart.session_id,
        expires_at=cart.expires_at,
        items=tuple(
            LineSnapshot(
                id=i.id,
                product_id=i.product_id,
                variant_id=i.variant_id,
                quantity=i.quantity,
                unit_price=i.price,
                currency=i.currency,
                metadata=dict(i.meta or {}),
            )
            for i in cart.items
        ),
        coupons=tuple(
            CouponSnapshot(
                id=c.id, coupon_id=c.coupon_id, discount_amount=c.discount_amount, code=c.code
            )
            for c in cart.coupons
        ),
    )


async def _view(rt: Runtime, s: AsyncSession, snap: CartSnapshot) -> CartView:
    keys = [(i.product_id, i.variant_id) for i in snap.items]
    stock = await stock_status_for(rt, s, _demand(snap.items), cart_id=snap.id)
    return build_view(snap, await sellables_for(s, keys), stock)


def _demand(items: Iterable[LineSnapshot | CartItem]) -> dict[tuple[str, str | None], int]:
    """Total quantity wanted per (product, variant) over a cart's lines."""
    demand: dict[tuple[str, str | None], int] = {}
    for i in items:
        key = (i.product_id, i.variant_id)
        demand[key] = demand.get(key, 0) + i.quantity
    return demand


async def get_cart(rt: Runtime, cart_id: str) -> CartView | None:
    """The cart with its lines checked against the catalog, or None (the seed's getCart)."""
    if not is_valid_id(cart_id, "cart"):
        return None
    snap = await cache.cached(rt, cart_id)
    params = {"cart_id": cart_id}
    async with rt.db.reads() as s:
        if snap is not None:
            # The cache is only trusted at the stored version: an invalidation lost to a
            # Redis partition must not serve an old cart later (one primary-key read).
            current = (await s.execute(_VERSION, params)).one_or_none()
            if current is None or tuple(current) != (snap.version, snap.status):
                snap = None
        if snap is None:
            cart = (await s.scalars(_WITH_LINES, params)).unique().one_or_none()
            if cart is None:
                return None
            snap = snapshot(cart)
            fresh = True
        else:
            fresh = False
        view = await _view(rt, s, snap)
    if fresh and snap.status == ACTIVE:
        await cache.store(rt, snap)
    return view


async def get_cart_by_session(rt: Runtime, session_id: str) -> CartView | None:
    """The newest active cart of a guest session (the seed's getCartBySession)."""
    async with rt.db.transaction() as s:
        cart_id = await s.scalar(
            select(Cart.id)
            .where(Cart.session_id == session_id, Cart.status == ACTIVE)
            .order_by(Cart.created_at.desc())
            .limit(1)
        )
    return await get_cart(rt, cart_id) if cart_id else None


async def get_cart_items(rt: Runtime, cart_id: str) -> list[LineSnapshot]:
    """The stored lines of a cart (the seed's getCartItems)."""
    view = await get_cart(rt, cart_id)
    if view is None:
        raise NotFound("No such cart.", code="cart_not_found")
    return [
        LineSnapshot(
            id=i.id,
            product_id=i.product_id,
            variant_id=i.variant_id,
            quantity=i.quantity,
            unit_price=i.unit_price,
            currency=view.currency,
            metadata=i.metadata,
        )
        for i in view.items
    ]


# --- writing ------------------------------------------------------------------------


def _transient(exc: BaseException) -> bool:
    """Lock trouble that a fresh attempt can get past (PG deadlock/serialization, busy SQLite)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in {"40001", "40P01", "55P03"}:
        return True
    text = str(orig or exc).lower()
    return "database is locked" in text or "deadlock" in text or "could not serialize" in text


async def with_retries(rt: Runtime, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` again after transient lock failures, up to the configured retries."""
    attempts = rt.settings.cart_write_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except (OperationalError, DBAPIError) as exc:
            if attempt == attempts or not _transient(exc):
                raise
            log.info("retrying cart write after lock failure", extra={"attempt": attempt})
    raise AssertionError("unreachable")


async def lock_cart(s: AsyncSession, cart_id: str) -> Cart:
    """Load a cart with its lines and coupons for writing, holding its row lock until the
    unit of work ends."""
    cart = None
    if is_valid_id(cart_id, "cart") and await _lock_row(s, cart_id):
        params = {"cart_id": cart_id}
        cart = (await s.scalars(_RELOAD_WITH_LINES, params)).unique().one_or_none()
    if cart is None:
        raise NotFound("No such cart.", code="cart_not_found")
    return cart


async def _lock_row(s: AsyncSession, cart_id: str) -> bool:
    """Take the cart's row lock; False if there is no such cart.

    Lock first, then read the lines in a statement of their own: under READ COMMITTED a
    statement that waited for the lock still sees the lines as they were when it began,
    so one joining them under FOR UPDATE could miss a line a concurrent write just added.
    SQLite has no row locks: the transaction's ``BEGIN IMMEDIATE`` already holds the write
    lock, and the read below answers whether the cart exists."""
    return await lock_cart_row(s, cart_id)


async def _write(
    rt: Runtime,
    cart_id: str,
    if_match: int | None,
    change: Callable[[AsyncSession, Cart], Awaitable[None]],
) -> CartView:
    """Lock, check version and status, apply ``change``, bump the version, return the view."""

    async def attempt() -> tuple[CartSnapshot, CartView]:
        async with rt.db.transaction() as s:
            cart = await lock_cart(s, cart_id)
            if if_match is not None and if_match != cart.version:
                current = await _view(rt, s, snapshot(cart))
                raise PreconditionFailed(
                    "The cart changed since you last read it.",
                    details={"current": cart_to_dict(current)},
                )
            if cart.status != ACTIVE:
                raise Conflict("This cart can no longer be changed.", code="cart_not_active")
            await refuse_while_paying(rt, s, cart.id)
            await change(s, cart)
            # Every change re-checks and re-prices the applied coupons (promotions).
            coupons = await refresh_cart_coupons(rt, s, cart)
            now = rt.clock.now()
            cart.version += 1
            cart.updated_at = now
            cart.expires_at = now + timedelta(seconds=rt.settings.cart_ttl_seconds)
            await s.flush()
            # No refresh: every change goes through the ORM collections, so after the
            # flush the loaded lines and coupons are what the database holds (3 reads saved).
            snap = snapshot(cart)
            view = await _view(rt, s, snap)
            if coupons.notices:
                view = dataclasses.replace(view, notices=[*view.notices, *coupons.notices])
            return snap, view

    try:
        snap, view = await with_retries(rt, attempt)
    except BaseException:
        await cache.invalidate(rt, cart_id)
        raise
    # Committed: the new cart replaces the cached copy, so the next read needs no load. A
    # read trusts a copy only at the stored version, so a slower write's older copy landing
    # after this one is never served.
    await cache.store(rt, snap)
    return view


async def refuse_while_paying(rt: Runtime, s: AsyncSession, cart_id: str) -> None:
    """Under the cart's row lock: 409 ``cart_locked``, with the paying checkout's id and
    state, while a checkout is paying for the cart (its order gets the paid lines only)."""
    paying = await rt.paying(s, cart_id)
    if paying is not None:
        checkout_id, state = paying
        raise Conflict(
            "A payment for this cart is in progress. You can change the cart again once "
            "the payment has finished.",
            code="cart_locked",
            details={"checkout_id": checkout_id, "state": state},
        )


async def change_cart(
    rt: Runtime,
    cart_id: str,
    change: Callable[[AsyncSession, Cart], Awaitable[None]],
    *,
    if_match: int | None = None,
) -> CartView:
    """Apply ``change`` to the locked cart as one write: version checked and bumped,
    coupons re-priced, cache invalidated (for features that change carts, e.g. coupons)."""
    return await _write(rt, cart_id, if_match, change)


def check_quantity(rt: Runtime, quantity: int, path: str = "quantity") -> None:
    limit = rt.settings.cart_max_line_quantity
    if isinstance(quantity, bool) or not 1 <= quantity <= limit:
        message = f"Quantity must be between 1 and {limit}."  # shown next to the input
        raise InvalidInput(
            message,
            code="quantity_out_of_range",
            fields=[FieldError((path,), "quantity_out_of_range", message)],
            details={"min": 1, "max": limit},
        )


async def add_item(
    rt: Runtime,
    cart_id: str,
    *,
    product_id: str,
    quantity: int,
    variant_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    if_match: int | None = None,
) -> CartView:
    """Add a line, or add to the quantity of the same product + variant + metadata line."""
    check_quantity(rt, quantity)
    meta = dict(metadata or {})
    refuse_reserved_metadata(meta)
    key = (product_id, variant_id)

    async def change(s: AsyncSession, cart: Cart) -> None:
        refuse_if_locked(cart.items)
        # One read of every product the answer shows, this one included (the view and
        # resolve_sellable then find them in the unit of work).
        await sellables_for(s, [*((i.product_id, i.variant_id) for i in cart.items), key])
        sellable = await resolve_sellable(s, product_id, variant_id)
        if sellable.product.currency != cart.currency:
            raise InvalidInput(
                "This product is priced in another currency than the cart.",
                code="currency_mismatch",
            )
        same = next(
            (
                i
                for i in cart.items
                if i.product_id == product_id and i.variant_id == variant_id and i.meta == meta
            ),
            None,
        )
        # Availability of everything this cart wants of that stock, this line included.
        demand = _demand(cart.items)
        demand[key] = demand.get(key, 0) + quantity
        await ensure_available(rt, s, demand, only=key, cart_id=cart.id)
        if same is not None:
            check_quantity(rt, same.quantity + quantity)
            same.quantity += quantity
            same.price = sellable.unit_price
            await _audit_item_added(rt, s, cart, product_id, variant_id, quantity)
            return
        if len(cart.items) >= rt.settings.cart_max_lines:
            raise InvalidInput(
                f"A cart holds at most {rt.settings.cart_max_lines} different lines.",
                code="too_many_lines",
            )
        cart.items.append(
            CartItem(
                id=new_id("item"),
                product_id=product_id,
                variant_id=variant_id,
                quantity=quantity,
                price=sellable.unit_price,
                currency=cart.currency,
                meta=meta,
                position=max((i.position for i in cart.items), default=-1) + 1,
            )
        )
        await _audit_item_added(rt, s, cart, product_id, variant_id, quantity)

    return await _write(rt, cart_id, if_match, change)


async def _audit_item_added(
    rt: Runtime,
    s: AsyncSession,
    cart: Cart,
    product_id: str,
    variant_id: str | None,
    quantity: int,
) -> None:
    # Last in the unit of work: the cart row is already locked, the chain head comes after.
    await log_checkout_event(
        s,
        CheckoutEventType.item_added,
        cart_id=cart.id,
        actor=Actor(session_id=cart.session_id, user_id=cart.user_id),
        at=rt.clock.now(),
        metadata={"product_id": product_id, "variant_id": variant_id, "quantity": quantity},
    )


def _find_item(cart: Cart, item_id: str) -> CartItem:
    item = next((i for i in cart.items if i.id == item_id), None)
    if item is None:
        raise NotFound("No such item in this cart.", code="item_not_found")
    return item


async def update_item_quantity(
    rt: Runtime, cart_id: str, item_id: str, quantity: int, *, if_match: int | None = None
) -> CartView:
    """Set a line's quantity (0 removes it); the line takes today's catalog price."""
    if quantity != 0:
        check_quantity(rt, quantity)

    async def change(s: AsyncSession, cart: Cart) -> None:
        item = _find_item(cart, item_id)
        check_locked_quantity(item, quantity)
        if quantity == 0:
            cart.items.remove(item)
            return
        sellable = await resolve_sellable(s, item.product_id, item.variant_id)
        if quantity > item.quantity:
            key = (item.product_id, item.variant_id)
            demand = _demand(cart.items)
            demand[key] += quantity - item.quantity
            await ensure_available(rt, s, demand, only=key, cart_id=cart.id)
        item.quantity = quantity
        item.price = sellable.unit_price

    return await _write(rt, cart_id, if_match, change)


async def remove_item(
    rt: Runtime, cart_id: str, item_id: str, *, if_match: int | None = None
) -> CartView:
    """Remove one line."""

    async def change(_s: AsyncSession, cart: Cart) -> None:
        item = _find_item(cart, item_id)
        check_locked_quantity(item, 0)
        cart.items.remove(item)

    return await _write(rt, cart_id, if_match, change)


async def clear_cart(rt: Runtime, cart_id: str, *, if_match: int | None = None) -> CartView:
    """Remove every line and coupon; the cart itself stays."""

    async def change(_s: AsyncSession, cart: Cart) -> None:
        refuse_if_locked(cart.items)
        cart.items.clear()
        cart.coupons.clear()

    return await _write(rt, cart_id, if_match, change)


@dataclasses.dataclass(frozen=True, slots=True)
class ConvertedCart:
    """Whose cart became an order: its owner and currency (for the owner's next cart)."""

    id: str
    session_id: str | None
    user_id: str | None
    currency: str


async def mark_converted(s: AsyncSession, cart_id: str) -> ConvertedCart:
    """Inside an order's unit of work: the cart became an order and is frozen.

    One UPDATE (it takes the row lock itself), not the cart with its lines and coupons."""
    done = None
    if is_valid_id(cart_id, "cart"):
        done = (
            await s.execute(
                update(Cart)
                .where(Cart.id == cart_id)
                .values(status=CONVERTED, version=Cart.version + 1, updated_at=func.now())
                .returning(Cart.session_id, Cart.user_id, Cart.currency)
            )
        ).first()
    if done is None:
        raise NotFound("No such cart.", code="cart_not_found")
    return ConvertedCart(cart_id, done.session_id, done.user_id, done.currency)


async def delete_expired_carts(rt: Runtime, *, batch: int = 500) -> int:
    """Delete carts past their expiry that never became orders; returns how many.

    Converted carts are kept (orders point at them). Rows are claimed with
    ``SKIP LOCKED`` on PostgreSQL so several instances can sweep at once.
    """
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        q = (
            select(Cart.id)
            .where(Cart.expires_at <= now, Cart.status != CONVERTED)
            .order_by(Cart.id)
            .limit(batch)
        )
        ids = list((await s.scalars(claim_expired_carts(s, q))).all())
        if ids:
            await s.execute(delete(Cart).where(Cart.id.in_(ids)))
    await cache.invalidate(rt, *ids)
    return len(ids)
