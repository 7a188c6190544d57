"""The cart's statements that differ between PostgreSQL and SQLite, one function each.

PostgreSQL has row locks: a cart's writes take its row's, and the expiry sweep skips rows
another sweeper holds. SQLite has none: every transaction's ``BEGIN IMMEDIATE`` already
runs writers one at a time. The choice is made here, so the services carry no dialect
branch.
"""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.cart.models import Cart

_LOCK = select(Cart.id).where(Cart.id == bindparam("cart_id")).with_for_update()


def _is_postgres(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"


async def lock_cart_row(s: AsyncSession, cart_id: str) -> bool:
    """Take the cart's row lock (``SELECT ... FOR UPDATE``); False if there is no such
    cart. SQLite: no statement (True); the caller's read answers whether the cart exists."""
    conn = await s.connection()
    if conn.dialect.name != "postgresql":
        return True
    return (await conn.execute(_LOCK, {"cart_id": cart_id})).first() is not None


def claim_expired_carts(s: AsyncSession, query: Select[str]) -> Select[str]:
    """The sweep's SELECT of expired carts, claiming its rows: ``FOR UPDATE SKIP LOCKED``
    on PostgreSQL, so several sweepers never wait on each other."""
    return query.with_for_update(skip_locked=True) if _is_postgres(s) else query
