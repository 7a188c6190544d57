"""The audit log's K chains: appends spread over them, each verifies on its own, tampering
in any chain shows, one unit of work stays in one chain, and chains do not wait on each
other (PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select, text, update

from tillpoint.audit.chain import CHAINS_KEY, Along, preferred_chain
from tillpoint.audit.models import AuditLog
from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.audit.verify import verify_chain
from tillpoint.cart.models import Cart
from tillpoint.cart.service import create_cart
from tillpoint.runtime import Runtime

ACTOR = Actor(session_id="s" * 64, ip_address="198.51.100.4", user_agent="pytest")
K = 16


def entity_in(chain: int, k: int = K, *, prefix: str = "cart") -> str:
    """An entity id whose events prefer ``chain``."""
    return next(
        f"{prefix}_{i}" for i in itertools.count() if preferred_chain(f"{prefix}_{i}", k) == chain
    )


def _added(entity_id: str) -> AuditEvent:
    return AuditEvent("item_added", "cart", entity_id, "add")


async def _append(rt: Runtime, entity_id: str, n: int = 1) -> list[AuditLog]:
    rows = []
    for i in range(n):
        async with rt.db.transaction() as s:
            event = AuditEvent("item_added", "cart", entity_id, "add", {"i": i})
            rows.append(await record(s, event, ACTOR, rt.clock.now()))
    return rows


async def _tamper(rt: Runtime, sql: str, **params: Any) -> None:
    """Run ``sql`` past the append-only triggers, as an attacker with DB access could."""
    async with rt.db.engine.connect() as conn:
        if rt.db.is_postgres:
            await conn.execute(text("SET session_replication_role = replica"))
        else:
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_logs_no_update"))
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_logs_no_delete"))
        await conn.execute(text(sql), params)
        await conn.commit()


async def _chain_of_four(rt: Runtime, chain: int) -> list[AuditLog]:
    """Four rows in ``chain`` between rows of two other chains (so neighbours must not mask
    the break)."""
    await _append(rt, entity_in((chain + 1) % K), 2)
    rows = await _append(rt, entity_in(chain), 4)
    await _append(rt, entity_in((chain + 2) % K), 2)
    assert {r.chain for r in rows} == {chain} and [r.seq for r in rows] == [1, 2, 3, 4]
    assert (await verify_chain(rt)).ok
    return rows


async def test_concurrent_appends_spread_over_chains_that_all_verify(rt: Runtime) -> None:
    async def shopper(i: int) -> None:
        for step in range(3):
            async with rt.db.transaction() as s:
                event = AuditEvent("item_added", "cart", f"cart_{i}", "add", {"step": step})
                await record(s, event, ACTOR, rt.clock.now())

    await asyncio.gather(*(shopper(i) for i in range(24)))
    report = await verify_chain(rt)
    assert report.ok, report.problems
    assert report.checked == 72 and report.head_seq == 72
    assert len(report.chains) > K // 2  # spread, not one chain
    assert all(0 <= h.chain < K for h in report.chains)
    async with rt.db.transaction() as s:
        rows = (await s.execute(select(AuditLog.entity_id, AuditLog.chain))).all()
    # Each entity's events stayed in its chain.
    assert all(chain == preferred_chain(entity, K) for entity, chain in rows)


@pytest.mark.parametrize("chain", [0, 7])
async def test_an_edited_row_is_named_by_chain_and_seq(rt: Runtime, chain: int) -> None:
    rows = await _chain_of_four(rt, chain)
    await _tamper(rt, "UPDATE audit_logs SET entity_id = 'forged' WHERE id = :id", id=rows[1].id)
    report = await verify_chain(rt)
    assert not report.ok
    assert any(
        f"chain {chain} seq 2 ({rows[1].id})" in p and "does not match its hash" in p
        for p in report.problems
    ), report.problems
    assert all(p.startswith(f"chain {chain} ") for p in report.problems)


@pytest.mark.parametrize("chain", [0, 7])
async def test_a_deleted_middle_row_is_a_gap(rt: Runtime, chain: int) -> None:
    rows = await _chain_of_four(rt, chain)
    await _tamper(rt, "DELETE FROM audit_logs WHERE id = :id", id=rows[1].id)
    report = await verify_chain(rt)
    assert any(f"chain {chain} seq 3" in p and "expected seq 2" in p for p in report.problems), (
        report.problems
    )
    assert any(f"chain {chain} seq 3" in p and "does not link" in p for p in report.problems)


@pytest.mark.parametrize("chain", [0, 7])
async def test_a_deleted_tail_row_is_caught_by_its_head(rt: Runtime, chain: int) -> None:
    rows = await _chain_of_four(rt, chain)
    await _tamper(rt, "DELETE FROM audit_logs WHERE id = :id", id=rows[-1].id)
    report = await verify_chain(rt)
    assert report.problems == [
        f"chain {chain}: chain head says seq 4, the chain ends at seq 3"
        " (rows missing at the end, or the head was altered)"
    ]


@pytest.mark.parametrize("chain", [0, 7])
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_chain_head SET hash = :forged WHERE chain = :chain",
        "UPDATE audit_chain_head SET seq = 3 WHERE chain = :chain",
        "DELETE FROM audit_chain_head WHERE chain = :chain",
    ],
)
async def test_an_altered_head_is_caught(rt: Runtime, chain: int, sql: str) -> None:
    await _chain_of_four(rt, chain)
    await _tamper(rt, sql, chain=chain, forged="f" * 64)
    report = await verify_chain(rt)
    assert len(report.problems) == 1 and report.problems[0].startswith(f"chain {chain}: ")


async def test_a_row_moved_to_another_chain_breaks_both(rt: Runtime) -> None:
    rows = await _chain_of_four(rt, 7)
    await _tamper(rt, "UPDATE audit_logs SET chain = 3, seq = 9 WHERE id = :id", id=rows[-1].id)
    report = await verify_chain(rt)
    assert any("chain 3 seq 9" in p and "does not match its hash" in p for p in report.problems)
    assert any(p.startswith("chain 7: chain head says seq 4") for p in report.problems)


async def test_rows_and_heads_outside_the_configured_chains_are_reported(rt: Runtime) -> None:
    # Written while the shop ran with 32 chains; verified with 16.
    entity = entity_in(20, 32)
    async with rt.db.sessions(info={CHAINS_KEY: 32}) as s, s.begin():
        row = await record(
            s, AuditEvent("item_added", "cart", entity, "add"), ACTOR, rt.clock.now()
        )
    assert row.chain == 20
    report = await verify_chain(rt)
    assert report.problems == ["chain 20: outside chains 0..15 (TILLPOINT_AUDIT_CHAINS=16)"]


async def test_one_transaction_on_two_entities_stays_in_one_chain(rt: Runtime) -> None:
    cart, order = entity_in(2), entity_in(9, prefix="order")
    async with rt.db.transaction() as s:
        first = await record(
            s, AuditEvent("item_added", "cart", cart, "add"), ACTOR, rt.clock.now()
        )
        second = await record(
            s, AuditEvent("checkout_completed", "order", order, "complete"), ACTOR, rt.clock.now()
        )
    assert first.chain == second.chain == 2
    assert (first.seq, second.seq) == (1, 2) and second.prev_hash == first.hash
    # The next transaction picks afresh: the order's own chain.
    (alone,) = await _append(rt, order)
    assert alone.chain == 9 and alone.seq == 1
    assert (await verify_chain(rt)).ok


@pytest.mark.parametrize("backend", ["postgres"])
async def test_transactions_on_different_chains_do_not_wait_for_each_other(
    rt: Runtime,
) -> None:
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with rt.db.transaction() as s:
            await record(
                s, AuditEvent("item_added", "cart", entity_in(1), "add"), ACTOR, rt.clock.now()
            )
            held.set()  # chain 1's head is locked until this transaction ends
            await release.wait()

    async def other(chain: int) -> AuditLog:
        (row,) = await _append(rt, entity_in(chain, prefix="other"))
        return row

    holding = asyncio.create_task(holder())
    await held.wait()
    try:
        # Another chain commits while chain 1 is held (a generous bound: it never waits).
        row = await asyncio.wait_for(other(5), timeout=10)
        assert row.chain == 5
        # The same chain cannot: it queues on the head lock until the holder ends.
        same = asyncio.create_task(other(1))
        done, _ = await asyncio.wait({same}, timeout=0.5)
        assert not done
    finally:
        release.set()
        await holding
    assert (await asyncio.wait_for(same, timeout=10)).chain == 1
    report = await verify_chain(rt)
    assert report.ok and report.checked == 3, report.problems


async def test_an_append_is_one_statement_on_postgres_three_on_sqlite(rt: Runtime) -> None:
    await _append(rt, "cart_1")  # the chain's head exists from here on
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            statements.append(" ".join(statement.split()))

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        (row,) = await _append(rt, "cart_1")
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    if rt.db.is_postgres:
        # Lock the head, hash onto it, insert the row and move the head: one round trip.
        assert [s.split()[0] for s in statements] == ["WITH"], statements
        assert "FROM audit_chain_head" in statements[0]
        assert "FOR UPDATE" in statements[0]
        assert "INSERT INTO audit_logs" in statements[0]
        assert "UPDATE audit_chain_head" in statements[0]
    else:
        assert "FROM audit_chain_head" in statements[0]
        assert [s.split()[0] for s in statements] == ["SELECT", "INSERT", "UPDATE"], statements
    assert row.seq == 2
    report = await verify_chain(rt)
    assert report.ok and report.checked == 2, report.problems


async def test_a_first_append_creates_a_missing_head(rt: Runtime) -> None:
    (row,) = await _append(rt, "cart_1")
    assert row.seq == 1
    async with rt.db.transaction() as s:
        heads = (await s.execute(text("SELECT seq, hash FROM audit_chain_head"))).all()
    assert [tuple(h) for h in heads] == [(1, row.hash)]
    report = await verify_chain(rt)
    assert report.ok and report.checked == 1, report.problems


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"note": 'caf\u00e9 \u2028 \U0001f600 \\ "q" \n', "seq": 9, "z": [1.5, None, True]},
        {"nested": {"b": 1, "a": {"d": [], "c": {}}}, "ünï": "x"},
    ],
)
async def test_rows_the_database_hashed_verify(rt: Runtime, metadata: dict[str, Any]) -> None:
    """The hash PostgreSQL computes over the canonical text is the one Python computes."""
    for chain in (0, 3):
        async with rt.db.transaction() as s:
            event_ = AuditEvent("item_added", "cart", entity_in(chain), "add", metadata)
            await record(s, event_, Actor(user_agent="agent \u00e9"), rt.clock.now())
            await record(s, event_, ACTOR, rt.clock.now())
    report = await verify_chain(rt)
    assert report.ok and report.checked == 4, report.problems


async def test_a_later_append_in_the_same_unit_of_work_moves_the_head_it_left(
    rt: Runtime,
) -> None:
    await _append(rt, "cart_1")  # the chain's head exists from here on
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            statements.append(" ".join(statement.split()))

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with rt.db.transaction() as s:
            for i in range(2):
                event_ = AuditEvent("item_added", "cart", "cart_1", "add", {"i": i})
                await record(s, event_, ACTOR, rt.clock.now())
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    # The second append does not read the head again: a conditional UPDATE, then its row
    # (on PostgreSQL in one statement: WITH moved AS (UPDATE ...) INSERT ... FROM moved).
    audit = [s for s in statements if "audit" in s]
    if rt.db.is_postgres:
        assert [s.split()[0] for s in audit] == ["WITH", "WITH"], statements
        assert "FOR UPDATE" not in audit[1] and "UPDATE audit_chain_head" in audit[1]
    else:
        kinds = [s.split()[0] for s in audit]
        assert kinds == ["SELECT", "INSERT", "UPDATE", "UPDATE", "INSERT"], statements
    report = await verify_chain(rt)
    assert report.ok and report.checked == 3, report.problems


async def test_an_append_after_a_rolled_back_savepoint_still_chains(rt: Runtime) -> None:
    async with rt.db.transaction() as s:
        await record(
            s, AuditEvent("item_added", "cart", "cart_1", "add", {}), ACTOR, rt.clock.now()
        )
        with pytest.raises(RuntimeError):
            async with s.begin_nested():
                await record(
                    s, AuditEvent("item_added", "cart", "cart_1", "add", {"n": 2}), ACTOR,
                    rt.clock.now(),
                )  # fmt: skip
                raise RuntimeError("undo the savepoint")
        await record(
            s, AuditEvent("item_added", "cart", "cart_1", "add", {"n": 3}), ACTOR, rt.clock.now()
        )
    async with rt.db.transaction() as s:
        rows = list(await s.scalars(select(AuditLog).order_by(AuditLog.seq)))
    assert [r.meta for r in rows] == [{}, {"n": 3}]
    assert [r.seq for r in rows] == [1, 2]
    report = await verify_chain(rt)
    assert report.ok and report.checked == 2, report.problems


_BUMP_CART = (
    update(Cart.__table__)
    .where(Cart.__table__.c.id == bindparam("x_cart"))
    .values(version=Cart.__table__.c.version + 1)
)


@pytest.mark.parametrize("head_exists", [True, False])
async def test_a_write_sent_along_runs_once_with_its_audit_row(
    rt: Runtime, head_exists: bool
) -> None:
    """``along`` runs exactly once: in the append's statement, or (no head yet, where
    PostgreSQL ran it in the statement that found no head) not again; and a later append
    of the same unit of work runs it on its own."""
    async with rt.db.transaction() as s:
        cart = await create_cart(rt, s)
        cart_id, version = cart.id, cart.version
    # Audit rows about an entity in another chain than the cart's creation went to.
    entity = entity_in((preferred_chain(cart_id, K) + 1) % K)
    if head_exists:
        await _append(rt, entity)
    async with rt.db.transaction() as s:
        # Locked first, as every caller that sends a write along holds its row.
        await s.execute(select(Cart.id).where(Cart.id == cart_id).with_for_update())
        for i in range(2):
            along = Along(_BUMP_CART, {"x_cart": cart_id})
            await record(s, AuditEvent("item_added", "cart", entity, "add", {"i": i}),
                         ACTOR, rt.clock.now(), along=along)  # fmt: skip
    async with rt.db.transaction() as s:
        assert await s.scalar(select(Cart.version).where(Cart.id == cart_id)) == version + 2
    report = await verify_chain(rt)
    assert report.ok and report.checked == 3 + head_exists, report.problems
