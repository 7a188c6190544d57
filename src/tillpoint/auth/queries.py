"""auth's statements that differ between PostgreSQL and SQLite (the services carry no
dialect branch): a new guest's session and cart, and the sweep of stale sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.auth.models import GuestSession
from tillpoint.cart.public import Cart, create_guest_cart, new_guest_cart, record_cart_created
from tillpoint.db import UTCDateTime
from tillpoint.runtime import Runtime

_CART_COLUMNS = ("id", "session_id", "user_id", "status", "currency", "expires_at", "version")
_INSERT_SESSION = insert(GuestSession)
_NEW_CART = (
    insert(Cart)
    .values({c: bindparam(f"cart_{c}") for c in _CART_COLUMNS})
    .returning(Cart.id)
    .cte("new_cart")
)
_INSERT_CART_AND_SESSION = (
    insert(GuestSession)
    .from_select(
        ["id", "cart_id", "expires_at", "ip_address", "user_agent"],
        select(
            bindparam("id", type_=String()),
            _NEW_CART.c.id,
            bindparam("expires_at", type_=UTCDateTime()),
            bindparam("ip_address", type_=String()),
            bindparam("user_agent", type_=String()),
        ),
    )
    .add_cte(_NEW_CART)
)


async def insert_guest_session(rt: Runtime, s: AsyncSession, row: dict[str, Any]) -> str:
    """Insert a new guest's session (``row``) and its empty cart; returns the cart's id."""
    conn = await s.connection()
    if conn.dialect.name == "postgresql":
        # Cart and session in one statement (the cart's INSERT as a CTE); then the audit
        # row, whose chain head is the last lock the unit of work takes.
        cart = new_guest_cart(rt, session_id=row["id"])
        params = {f"cart_{k}": v for k, v in cart.values().items()}
        await conn.execute(_INSERT_CART_AND_SESSION, {**params, **row})
        await record_cart_created(s, cart)
        return cart.id
    cart_id = await create_guest_cart(rt, s, session_id=row["id"])
    await conn.execute(_INSERT_SESSION, {**row, "cart_id": cart_id})
    return cart_id


def claim_stale(rt: Runtime, query: Select[Any]) -> Select[Any]:
    """The sweep's SELECT of stale rows, claiming them: ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL, so two sweepers never delete the same rows."""
    return query.with_for_update(skip_locked=True) if rt.db.is_postgres else query
