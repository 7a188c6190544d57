"""The payments' statements that differ between PostgreSQL and SQLite, one function each.

A webhook event's claim is ``INSERT ... ON CONFLICT DO NOTHING``, built with each dialect's
own ``insert``; the velocity check's per-key locks are PostgreSQL transaction advisory
locks (SQLite's ``BEGIN IMMEDIATE`` already runs writers one at a time). The choice is made
here, so the services carry no dialect branch.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tillpoint.payments.models import WebhookEventRecord


def claim_webhook_event(s: AsyncSession | AsyncConnection, values: dict[str, Any]) -> Any:
    """The event's INSERT, ``RETURNING id`` only the first time that id comes (a replay
    gets no row)."""
    dialect = s.dialect if isinstance(s, AsyncConnection) else s.get_bind().dialect
    insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
    return (
        insert(WebhookEventRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(WebhookEventRecord.id)
    )


def _lock_id(scope: str, value: str) -> int:
    """A signed 64-bit advisory lock id for one counted key."""
    digest = hashlib.blake2b(f"velocity:{scope}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_counted_keys(s: AsyncSession, keys: list[tuple[str, str]]) -> None:
    """Hold every counted key until the transaction ends, in one order (no deadlock)."""
    if s.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already runs writers one at a time
    ids = sorted({_lock_id(scope, value) for scope, value in keys})
    locks = [
        func.pg_advisory_xact_lock(bindparam(f"k{i}", type_=BigInteger)) for i in range(len(ids))
    ]
    await s.execute(select(*locks), {f"k{i}": lock_id for i, lock_id in enumerate(ids)})
