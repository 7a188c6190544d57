"""The tax feature's SQL where PostgreSQL and SQLite differ."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession


def claim_jobs(s: AsyncSession, query: Select[Any]) -> Select[Any]:
    """Due recording jobs, skipping rows another instance holds (PostgreSQL); SQLite
    serialises writers, so the plain query is already exclusive there."""
    if s.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query
