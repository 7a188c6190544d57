"""The inventory's statements that differ between PostgreSQL and SQLite, one function each.

``INSERT ... ON CONFLICT DO NOTHING`` is built with each dialect's own ``insert``; the
sweeper's claim of expired rows adds ``SKIP LOCKED`` where there are row locks
(PostgreSQL; SQLite's single writer needs none). The choice is made here, so the services
carry no dialect branch.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.inventory.models import InventoryReservation, WebhookDelivery

_RES = cast(Table, InventoryReservation.__table__)


def _is_postgres(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def insert_reservation_if_new(s: AsyncSession) -> Any:
    """The reservation's ``INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id``: no row
    back when a concurrent twin inserted it first."""
    return _insert_if_new("postgresql" if _is_postgres(s) else "sqlite")


@functools.cache
def _insert_if_new(dialect: str) -> Any:
    """Built once per dialect."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(_RES).on_conflict_do_nothing(index_elements=["id"]).returning(_RES.c.id)


def claim_expired(
    s: AsyncSession, query: Select[InventoryReservation]
) -> Select[InventoryReservation]:
    """The sweeper's SELECT of expired reservations, claiming its rows: ``FOR UPDATE SKIP
    LOCKED`` on PostgreSQL, so several sweepers never wait on each other."""
    return query.with_for_update(skip_locked=True) if _is_postgres(s) else query


def record_delivery_once(
    s: AsyncSession, delivery: str, received_at: datetime, summary: dict[str, Any]
) -> Any:
    """The webhook delivery's INSERT, ``RETURNING id`` only the first time that id comes."""
    insert = pg_insert if _is_postgres(s) else sqlite_insert
    return (
        insert(WebhookDelivery)
        .values(id=delivery, received_at=received_at, summary=summary)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(WebhookDelivery.id)
    )
