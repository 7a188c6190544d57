"""After an order: the sessions that held its cart shop on with a new, empty one.

The order's unit of work marks the cart converted (it stays with its order only) and, in
the same transaction, moves every live session pointing at it — a guest's, or each of a
registered customer's devices — to one new empty cart of the same owner. So whoever made
the order (the shopper's browser, a webhook, the sweeper), that session's next request
finds an active empty cart. Once the order commits, the session caches are pinned to the
new cart on every instance and the converted cart's cached copy is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.auth import guest_session_cache as guest_cache
from tillpoint.auth import session_cache
from tillpoint.auth.models import GuestSession, RegisteredSession
from tillpoint.cart import public as cart_public
from tillpoint.cart.public import ConvertedCart, insert_new_cart, new_cart, record_cart_created
from tillpoint.db import after_commit
from tillpoint.runtime import Runtime

# Every live session holding the cart, guest (0) or registered (1), in one statement.
_HOLDERS = union_all(
    select(literal(0), GuestSession.id).where(GuestSession.cart_id == bindparam("cart_id")),
    select(literal(1), RegisteredSession.id).where(
        RegisteredSession.cart_id == bindparam("cart_id"), RegisteredSession.revoked_at.is_(None)
    ),
)


@dataclass(frozen=True, slots=True)
class MovedSessions:
    """Which sessions left the converted cart ``from_cart`` for the new cart ``cart_id``."""

    from_cart: str
    cart_id: str
    guest_ids: tuple[str, ...]
    registered_ids: tuple[str, ...]


async def move_sessions_to_next_cart(
    rt: Runtime, s: AsyncSession, converted: ConvertedCart
) -> MovedSessions | None:
    """Inside the order's unit of work, after the cart was marked converted: give the
    sessions holding it one new empty cart (None if no live session holds it). The caches
    follow once ``s`` commits. Session rows are locked after the cart's, as at login."""
    rows = (await s.execute(_HOLDERS, {"cart_id": converted.id})).all()
    guest_ids = tuple(sorted(sid for kind, sid in rows if kind == 0))
    registered_ids = tuple(sorted(sid for kind, sid in rows if kind == 1))

    async def forget_converted() -> None:
        await cart_public.invalidate(rt, converted.id)

    after_commit(s, forget_converted)
    if not rows:
        return None
    cart = new_cart(
        rt,
        # A customer's cart belongs to the user (login finds it); a guest's to its session.
        session_id=None if converted.user_id else converted.session_id,
        user_id=converted.user_id,
        currency=converted.currency,
    )
    await insert_new_cart(s, cart)
    for model, ids in ((GuestSession, guest_ids), (RegisteredSession, registered_ids)):
        if ids:
            await s.execute(update(model).where(model.id.in_(ids)).values(cart_id=cart.id))
    await record_cart_created(s, cart)  # the audit head: the last lock this step takes
    moved = MovedSessions(converted.id, cart.id, guest_ids, registered_ids)

    async def pin_sessions() -> None:
        await guest_cache.move_cart(rt, moved.guest_ids, moved.cart_id)
        await session_cache.move_cart(rt, moved.registered_ids, moved.cart_id)

    after_commit(s, pin_sessions)
    return moved
