"""The orders' statements that differ between PostgreSQL and SQLite, one function each.

Both dialects spell ``INSERT ... ON CONFLICT DO NOTHING`` alike, but SQLAlchemy builds it
with each dialect's own ``insert``; the choice is made here, so the services carry no
dialect branch.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.orders.models import Order, SubscriptionRecord

_ORDERS = cast(Table, Order.__table__)


def _insert_for(s: AsyncSession) -> Any:
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


def insert_order_claiming_number(s: AsyncSession) -> Any:
    """The order's INSERT that skips a taken number: ``ON CONFLICT (number) DO NOTHING
    RETURNING id`` (no row back: the number was taken)."""
    return _claiming_insert(s.get_bind().dialect.name)


@functools.cache
def _claiming_insert(dialect: str) -> Any:
    """Built once per dialect."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(_ORDERS).on_conflict_do_nothing(index_elements=["number"]).returning(_ORDERS.c.id)


def insert_subscription_unless_recorded(s: AsyncSession, values: dict[str, Any]) -> Any:
    """The subscription record's INSERT, skipped when its gateway id is already recorded
    (a webhook and the checkout may both get there first)."""
    return (
        _insert_for(s)(SubscriptionRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["gateway_subscription_id"])
    )
