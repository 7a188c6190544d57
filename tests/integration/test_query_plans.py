"""Hot lookups stay index lookups on PostgreSQL even where it has no statistics for the table
(a new shop, or a server with autovacuum off): an ``OR`` of two indexed columns is planned as
a scan of the whole table then, and a soak showed it, one seq scan of orders per payment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from tillpoint.orders.service import _FOR_CHECKOUT_OR_INTENT
from tillpoint.payments.velocity import _counts
from tillpoint.runtime import Runtime


async def _plan(rt: Runtime, statement: Any, **values: Any) -> str:
    sql = statement.params(**values).compile(
        dialect=rt.db.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    # The rt fixture has just truncated every table: the planner knows nothing of them.
    async with rt.db.engine.connect() as conn:
        rows = (await conn.execute(text(f"EXPLAIN {sql}"))).scalars().all()
    return "\n".join(rows)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_the_order_lookup_by_checkout_or_intent_uses_both_indexes(rt: Runtime) -> None:
    plan = await _plan(rt, _FOR_CHECKOUT_OR_INTENT, checkout_id="chk_x", intent_id="pi_x")
    assert "Seq Scan" not in plan, plan
    assert "uq_orders_checkout_id" in plan and "uq_orders_payment_intent_id" in plan, plan


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_the_velocity_count_scans_each_scope_index(rt: Runtime) -> None:
    scopes = ("checkout", "session", "email", "card")
    plan = await _plan(
        rt, _counts(scopes), since=datetime(2026, 1, 1, tzinfo=UTC),
        checkout="chk_x", session="s", email="a@example.com", card="fp",
        checkout_limit=5, session_limit=10, email_limit=10, card_limit=10,
    )  # fmt: skip
    assert "Seq Scan" not in plan, plan
    for index in ("checkout_created", "session_created", "email_created", "card_created"):
        assert f"ix_payment_attempts_{index}" in plan, plan
