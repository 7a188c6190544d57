"""Saving a checkout: the one way a step, an expiry or a refusal that keeps what it
changed writes the checkout's row.

Every column a step may change goes out in one Core UPDATE (the row is locked). A row
the session tracks leaves it first, so no flush ever writes it as well; what the
effects wrote to other rows is flushed before it. The UPDATE either runs at once or —
when nothing else of the step waits to be written and no foreign key of it changed —
is handed back to travel with the step's audit row (one round trip on PostgreSQL).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.chain import Along
from tillpoint.checkout.models import Checkout

_CHECKOUTS = cast(Table, Checkout.__table__)
# What a step may change on the checkout row, written whole (the row is locked).
_STEP_COLUMNS = ("session_id", "user_id", "cart_id", "state", "context", "version")
_SAVE_STEP = (
    update(_CHECKOUTS)
    .where(_CHECKOUTS.c.id == bindparam("c_id"))
    .values(
        {
            name: bindparam(f"c_{name}", type_=_CHECKOUTS.c[name].type)
            for name in (*_STEP_COLUMNS, "expires_at", "updated_at")
        }
    )
)


def only_row_changed(s: AsyncSession, row: Checkout) -> bool:
    """Nothing but ``row`` waits to be written (no effect added or changed other rows)."""
    return not s.new and not s.deleted and all(obj is row for obj in s.dirty)


def _update_of(row: Checkout) -> Along:
    params = {f"c_{name}": getattr(row, name) for name in _STEP_COLUMNS}
    params.update(c_id=row.id, c_expires_at=row.expires_at, c_updated_at=row.updated_at)
    return Along(_SAVE_STEP, params)


def release(s: AsyncSession, row: Checkout) -> None:
    """Take ``row`` out of the session: from here on only :func:`save` writes it."""
    if inspect(row).persistent:
        s.expunge(row)


async def save(s: AsyncSession, row: Checkout, *, along: bool = False) -> Along | None:
    """Write ``row``'s step columns. ``along``: return the UPDATE for the caller to send
    with its audit row (only when :func:`only_row_changed` held and no foreign key
    changed); otherwise the other rows are flushed and the UPDATE runs now."""
    release(s, row)
    written = _update_of(row)
    if along:
        return written
    await s.flush()
    await (await s.connection()).execute(written.statement, written.params)
    return None
