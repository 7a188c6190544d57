"""The audit log is append-only and hash-chained; verification finds edits and deletions."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from tests.support import MovableClock
from tillpoint.audit.events import CheckoutEventType, PaymentEventType, SecurityEventType
from tillpoint.audit.models import AuditLog
from tillpoint.audit.queries import AuditLogFilters, Cursor, query_logs
from tillpoint.audit.service import (
    Actor,
    AuditEvent,
    log_checkout_event,
    log_payment_event,
    log_security_event,
    record,
    record_security_event,
)
from tillpoint.audit.verify import ChainHeadState, anchor, verify_chain
from tillpoint.cli import app as cli_app
from tillpoint.runtime import Runtime

ACTOR = Actor(session_id="s" * 64, user_id=None, ip_address="198.51.100.4", user_agent="pytest")


async def _append(
    rt: Runtime, n: int, event_type: str = "item_added", entity_id: str = "cart_1"
) -> list[AuditLog]:
    """``n`` rows, one transaction each, all about one entity (so all in one chain)."""
    rows = []
    for i in range(n):
        async with rt.db.transaction() as s:
            rows.append(
                await record(
                    s,
                    AuditEvent(event_type, "cart", entity_id, "add", {"i": i}),
                    ACTOR,
                    rt.clock.now(),
                )
            )
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


async def test_appended_rows_form_a_chain_that_verifies(rt: Runtime) -> None:
    rows = await _append(rt, 5)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert len({r.chain for r in rows}) == 1
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    report = await verify_chain(rt)
    assert report.ok, report.problems
    assert report.checked == 5 and report.head_seq == 5
    assert report.chains == [ChainHeadState(rows[0].chain, 5, rows[-1].hash)]
    assert report.head_hash == anchor(report.chains)


async def test_rolled_back_work_leaves_no_audit_row_and_no_gap(rt: Runtime) -> None:
    await _append(rt, 1)
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as s:
            await record(s, AuditEvent("item_added", "cart", "c", "add"), ACTOR, rt.clock.now())
            raise RuntimeError("the change failed")
    await _append(rt, 1)
    report = await verify_chain(rt)
    assert report.ok and report.checked == 2, report.problems


async def test_an_edited_row_breaks_the_chain(rt: Runtime) -> None:
    rows = await _append(rt, 4)
    await _tamper(
        rt, "UPDATE audit_logs SET entity_id = 'cart_forged' WHERE id = :id", id=rows[1].id
    )
    report = await verify_chain(rt)
    assert not report.ok
    where = f"chain {rows[1].chain} seq 2"
    assert any(where in p and "does not match its hash" in p for p in report.problems)


async def test_a_deleted_row_breaks_the_chain(rt: Runtime) -> None:
    rows = await _append(rt, 4)
    await _tamper(rt, "DELETE FROM audit_logs WHERE id = :id", id=rows[1].id)
    report = await verify_chain(rt)
    assert not report.ok
    where = f"chain {rows[2].chain} seq 3"
    assert any(where in p and "expected seq 2" in p for p in report.problems)


async def test_a_deleted_last_row_is_caught_by_the_chain_head(rt: Runtime) -> None:
    rows = await _append(rt, 3)
    await _tamper(rt, "DELETE FROM audit_logs WHERE id = :id", id=rows[-1].id)
    report = await verify_chain(rt)
    assert not report.ok
    assert f"chain {rows[0].chain}: chain head says seq 3" in report.problems[-1]


async def test_the_database_refuses_update_and_delete(rt: Runtime) -> None:
    rows = await _append(rt, 1)
    for sql in (
        "UPDATE audit_logs SET action = 'x' WHERE id = :id",
        "DELETE FROM audit_logs WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with rt.db.transaction() as s:
                await s.execute(text(sql), {"id": rows[0].id})
    assert (await verify_chain(rt)).ok


async def test_concurrent_appends_stay_one_unbroken_chain(rt: Runtime) -> None:
    async def one(i: int) -> None:
        async with rt.db.transaction() as s:
            await record(s, AuditEvent("item_added", "cart", f"c{i}", "add"), ACTOR, rt.clock.now())

    await asyncio.gather(*(one(i) for i in range(20)))
    report = await verify_chain(rt)
    assert report.ok and report.checked == 20, report.problems


async def test_metadata_is_scrubbed_before_it_is_stored(rt: Runtime) -> None:
    async with rt.db.transaction() as s:
        row = await record(
            s,
            AuditEvent(
                "payment_failed",
                "payment",
                "pi_1",
                "failed",
                {"note": "card 4242 4242 4242 4242", "cvv": "123", "password": "pw", "amount": 5},
            ),
            ACTOR,
            rt.clock.now(),
        )
    async with rt.db.transaction() as s:
        stored = await s.get(AuditLog, row.id)
        assert stored is not None
        assert stored.meta == {
            "note": "card [PAN REDACTED]",
            "cvv": "[REDACTED]",
            "password": "[REDACTED]",
            "amount": 5,
        }
    assert (await verify_chain(rt)).ok


async def test_every_seed_event_type_is_written_by_its_service_function(rt: Runtime) -> None:
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        for checkout_type in CheckoutEventType:
            await log_checkout_event(s, checkout_type, cart_id="cart_x", actor=ACTOR, at=now)
        for payment_type in PaymentEventType:
            await log_payment_event(
                s,
                payment_type,
                payment_intent_id="pi_123",
                amount=1999,
                currency="USD",
                payment_method="card",
                status=payment_type.value,
                actor=ACTOR,
                at=now,
            )
    for security_type in SecurityEventType:
        assert await log_security_event(rt, security_type, actor=ACTOR) is not None
    rows, _ = await query_logs(rt, AuditLogFilters(), limit=100)
    written = {r.event_type for r in rows}
    expected = {
        e.value for t in (CheckoutEventType, PaymentEventType, SecurityEventType) for e in t
    }
    assert written == expected
    payment = next(r for r in rows if r.event_type == "payment_succeeded")
    assert payment.entity_id == "pi_123" and payment.meta["amount"] == 1999
    assert (await verify_chain(rt)).ok


async def test_a_security_event_in_a_unit_of_work_rolls_back_with_it(rt: Runtime) -> None:
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as s:
            row = await record_security_event(
                s, SecurityEventType.csrf_failed, actor=ACTOR, at=rt.clock.now()
            )
            assert row.entity_id == ACTOR.ip_address  # the client's address by default
            raise RuntimeError("the refused work rolls back")
    assert (await query_logs(rt, AuditLogFilters(), limit=10))[0] == []
    async with rt.db.transaction() as s:
        await record_security_event(
            s, SecurityEventType.csrf_failed, actor=ACTOR, at=rt.clock.now(), entity_id="cart_9"
        )
    rows, _ = await query_logs(rt, AuditLogFilters(), limit=10)
    assert [(r.event_type, r.entity_id) for r in rows] == [("csrf_failed", "cart_9")]


async def test_query_logs_filters_and_pages(rt: Runtime) -> None:
    await _append(rt, 5, "item_added")
    await _append(rt, 2, "cart_created", entity_id="cart_2")
    rows, cursor = await query_logs(rt, AuditLogFilters(event_types=["item_added"]), limit=3)
    assert [r.seq for r in rows] == [5, 4, 3] and cursor == Cursor.of(rows[-1])
    assert cursor is not None and Cursor.parse(str(cursor)) == cursor
    rows, cursor = await query_logs(
        rt, AuditLogFilters(event_types=["item_added"]), limit=3, before=cursor
    )
    assert [r.seq for r in rows] == [2, 1] and cursor is None
    rows, _ = await query_logs(
        rt, AuditLogFilters(entity_id="cart_2", event_types=["cart_created"])
    )
    assert [r.seq for r in rows] == [2, 1]


async def test_listing_orders_by_time_then_chain_and_seq_across_pages(
    rt: Runtime, clock: MovableClock
) -> None:
    # 12 entities over the chains; rows of one instant page by (chain, seq) descending.
    for i in range(12):
        await _append(rt, 1, entity_id=f"cart_{i}")
        if i % 4 == 3:
            clock.advance(seconds=1)
    pages, cursor = [], None
    while True:
        page, cursor = await query_logs(rt, AuditLogFilters(), limit=5, before=cursor)
        pages.append(page)
        if cursor is None:
            break
    listed = [(r.timestamp, r.chain, r.seq) for page in pages for r in page]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert listed == sorted(listed, reverse=True) and len(set(listed)) == 12
    assert len({c for _, c, _ in listed}) > 1


async def test_cli_audit_verify_exits_nonzero_on_a_broken_chain(rt: Runtime, settings: Any) -> None:
    await _append(rt, 3)
    env = {"TILLPOINT_DATABASE_URL": settings.database_url, "TILLPOINT_MODE": "test"}
    # The command runs its own event loop: give it a thread.
    ok = await asyncio.to_thread(CliRunner().invoke, cli_app, ["audit", "verify"], env=env)
    assert ok.exit_code == 0 and '"ok": true' in ok.output and '"checked": 3' in ok.output
    chain = (await verify_chain(rt)).chains[0].chain
    await _tamper(rt, "UPDATE audit_logs SET action = 'forged' WHERE seq = 2")
    broken = await asyncio.to_thread(CliRunner().invoke, cli_app, ["audit", "verify"], env=env)
    assert broken.exit_code == 1 and f"chain {chain} seq 2" in broken.output
