"""The lock-order guard every PostgreSQL test runs under (``tests/lock_order.py``): it
must see a lock taken after the audit head, and let the right order pass."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tests.lock_order import LockOrderGuard, locked_tables
from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.bootstrap import build_runtime
from tillpoint.runtime import Runtime

ACTOR = Actor(session_id="s" * 64, ip_address="198.51.100.4", user_agent="pytest")


def test_locked_tables_reads_the_statements_that_lock_rows() -> None:
    assert locked_tables("UPDATE inventory SET reserved=1 WHERE id = $1") == {"inventory"}
    assert locked_tables("DELETE FROM coupon_holds WHERE id = $1") == {"coupon_holds"}
    assert locked_tables("SELECT carts.id FROM carts WHERE carts.id = $1 FOR UPDATE") == {"carts"}
    joined = (
        "SELECT * FROM carts JOIN cart_items ON cart_items.cart_id = carts.id FOR UPDATE OF carts"
    )
    assert locked_tables(joined) == {"carts"}
    upsert = "INSERT INTO stock (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET n = stock.n + 1"
    assert locked_tables(upsert) == {"stock"}
    assert locked_tables("INSERT INTO outbox (id) VALUES ($1)") == set()
    assert locked_tables("SELECT on_hand FROM inventory WHERE id = $1") == set()


@pytest.fixture
async def watched(rt: Runtime) -> AsyncIterator[tuple[Runtime, LockOrderGuard]]:
    """A second runtime on the same database with a guard of its own (the ``rt`` fixture's
    guard would fail the test on the violation this test makes on purpose)."""
    if not rt.db.is_postgres:
        pytest.fail("use with the postgres backend only")
    other = build_runtime(rt.settings, clock=rt.clock)
    guard = LockOrderGuard()
    guard.install(other.db.engine.sync_engine)
    yield other, guard
    await other.close()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_lock_after_the_audit_head_is_a_violation(
    watched: tuple[Runtime, LockOrderGuard],
) -> None:
    rt, guard = watched
    event = AuditEvent("stock_adjusted", "inventory", "inv_1", "adjust", {})
    async with rt.db.transaction() as s:  # stock first, the audit head last: the rule
        await s.execute(text("UPDATE inventory SET reserved = reserved WHERE false"))
        await record(s, event, ACTOR, rt.clock.now())
    assert guard.violations == []
    async with rt.db.transaction() as s:  # the head, then stock: the deadlock's order
        await record(s, event, ACTOR, rt.clock.now())
        await s.execute(text("UPDATE inventory SET reserved = reserved WHERE false"))
    assert len(guard.violations) == 1
    assert "['inventory'] after the audit head" in guard.violations[0]
    async with rt.db.transaction() as s:  # a new transaction starts clean
        await s.execute(text("UPDATE inventory SET reserved = reserved WHERE false"))
    assert len(guard.violations) == 1
