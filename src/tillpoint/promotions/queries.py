"""The promotions' statements that differ between PostgreSQL and SQLite, one function each.

The customer counter's upsert is built with each dialect's own ``insert``; the sweep of
lapsed holds claims its rows with ``SKIP LOCKED`` where there are row locks (PostgreSQL;
SQLite's single writer needs none). The choice is made here, so the services carry no
dialect branch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.promotions.models import CouponCustomerUsage, CouponHold


def _is_postgres(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def count_customer_use(s: AsyncSession, coupon_id: str, key: str, limit: int | None) -> Any:
    """Add one to the customer's use of the coupon (a new row counts 1), unless the count
    already reached ``limit``: one row changed means counted."""
    insert = pg_insert if _is_postgres(s) else sqlite_insert
    stmt = insert(CouponCustomerUsage).values(coupon_id=coupon_id, customer_key=key, usage_count=1)
    counter = CouponCustomerUsage.usage_count
    return stmt.on_conflict_do_update(
        index_elements=[CouponCustomerUsage.coupon_id, CouponCustomerUsage.customer_key],
        set_={"usage_count": counter + 1},
        where=(counter < limit) if limit is not None else None,
    )


def claim_lapsed_holds(s: AsyncSession, query: Select[CouponHold]) -> Select[CouponHold]:
    """The sweep's SELECT of lapsed holds, claiming its rows: ``FOR UPDATE OF coupon_holds
    SKIP LOCKED`` on PostgreSQL, so several sweepers never wait on each other."""
    return query.with_for_update(of=CouponHold, skip_locked=True) if _is_postgres(s) else query
