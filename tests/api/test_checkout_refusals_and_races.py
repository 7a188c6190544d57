from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.test_checkout import CARD, GUEST, NY, fill_cart, send, start
from tests.support import Api, error_code
from tillpoint.checkout.machine import SERVER_EVENTS, Event, State, allowed_events
from tillpoint.runtime import Runtime

CLIENT_EVENTS = [e for e in Event if e not in SERVER_EVENTS]
# one valid body per event type, so a refusal is about the state, never the payload
BODIES: dict[Event, dict[str, Any]] = {
    Event.SUBMIT_GUEST_INFO: GUEST,
    Event.SUBMIT_SHIPPING: {"address": NY},
    Event.SUBMIT_BILLING: {"address": NY},
    Event.USE_BILLING_AS_SHIPPING: {"address": NY},
    Event.SELECT_SHIPPING: {"shipping_method_id": "us:ground"},
    Event.SELECT_PAYMENT: {"payment_method": CARD},
}
PATH = [
    (Event.SELECT_GUEST, State.guest_info),
    (Event.SUBMIT_GUEST_INFO, State.shipping_address),
    (Event.SUBMIT_SHIPPING, State.billing_address),
    (Event.SUBMIT_BILLING, State.shipping_method),
    (Event.SELECT_SHIPPING, State.payment_method),
    (Event.SELECT_PAYMENT, State.order_review),
    (Event.CONFIRM_ORDER, State.payment_processing),
]


async def test_every_event_the_state_does_not_allow_is_refused_over_http(
    api: Api, rt: Runtime
) -> None:
    await fill_cart(api, rt)
    co = await start(api)
    cid, state = co["id"], State(co["state"])
    for event, target in [(None, state), *PATH]:
        if event is not None:
            r = await send(api, cid, event.value, **BODIES.get(event, {}))
            assert r.status_code == 200 and r.json()["state"] == target.value, r.text
        version = (await api.get(f"/api/checkout/{cid}")).json()["version"]
        allowed = set(allowed_events(target))
        for refused in CLIENT_EVENTS:
            if refused in allowed:
                continue
            r = await send(api, cid, refused.value, **BODIES.get(refused, {}))
            assert r.status_code == 409, (target, refused, r.text)
            assert error_code(r) == "event_not_allowed"
            assert r.json()["error"]["details"]["state"] == target.value
        after = (await api.get(f"/api/checkout/{cid}")).json()
        assert after["state"] == target.value and after["version"] == version


async def test_concurrent_starts_make_one_checkout(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    answers = await asyncio.gather(*(api.post("/api/checkout") for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1


async def test_concurrent_events_on_one_version_one_wins(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    answers = await asyncio.gather(
        *(
            api.post(f"/api/checkout/{cid}/events", json={"type": t}, headers={"If-Match": "1"})
            for t in ("SELECT_GUEST", "LOGIN_REQUIRED", "SELECT_GUEST")
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 412, 412]
    final = (await api.get(f"/api/checkout/{cid}")).json()
    assert final["version"] == 2


async def test_reading_a_checkout_costs_a_handful_of_queries(api: Api, rt: Runtime) -> None:
    from sqlalchemy import event

    for _ in range(3):
        await fill_cart(api, rt)
    cid = (await start(api))["id"]
    for ev, body in [
        ("SELECT_GUEST", {}),
        ("SUBMIT_GUEST_INFO", GUEST),
        ("SUBMIT_SHIPPING", {"address": NY}),
    ]:
        await send(api, cid, ev, **body)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        r = await api.get(f"/api/checkout/{cid}")
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", count)
    assert r.status_code == 200
    mine = [
        s
        for s in statements
        if "checkouts" in s or "carts" in s or "products" in s or "cart_items" in s
    ]
    # session lookup + checkout row + cart + items + products (+ variants): no per-line queries
    assert len(mine) <= 5, mine
    # ... plus session, CSRF and BEGIN bookkeeping, and one read of the applied coupons.
    # ... and one read of the cart's stock rows (availability is checked at every step).
    assert len(statements) <= 12, statements


async def test_a_guest_start_and_step_send_their_rows_with_their_audit_rows(
    api: Api, rt: Runtime
) -> None:
    """The checkout's INSERT (a guest's start) and UPDATE (a customer's step) go out with
    the audit row: on PostgreSQL inside its one statement, on SQLite just before it."""
    from sqlalchemy import event

    from tillpoint.audit.chain import lock_head
    from tillpoint.audit.verify import verify_chain

    await fill_cart(api, rt)
    async with rt.db.transaction() as s:  # every chain has its head (a chain's first
        for chain in range(rt.settings.audit_chains):  # append creates it, apart)
            await lock_head(s, chain)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    def writes() -> list[str]:
        kinds = ("INSERT", "UPDATE", "WITH")
        found = [s for s in statements if s.split()[0].upper() in kinds and "audit" in s]
        found += [s for s in statements if s.split()[0].upper() in kinds and "checkouts" in s]
        statements.clear()
        return list(dict.fromkeys(found))

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        co = await start(api)
        started = writes()
        r = await send(api, co["id"], "SELECT_GUEST")
        stepped = writes()
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", count)
    assert r.status_code == 200 and r.json()["state"] == State.guest_info.value
    if rt.db.is_postgres:
        assert len(started) == 1 and "INSERT INTO checkouts" in started[0], started
        assert "INSERT INTO audit_logs" in started[0]
        assert len(stepped) == 1 and "UPDATE checkouts" in stepped[0], stepped
        assert "INSERT INTO audit_logs" in stepped[0]
    else:
        assert any(s.startswith("INSERT INTO checkouts") for s in started), started
        assert any(s.startswith("UPDATE checkouts") for s in stepped), stepped
    after = (await api.get(f"/api/checkout/{co['id']}")).json()
    assert after["state"] == State.guest_info.value and after["version"] == 2
    assert after["context"]["user_type"] == "guest"
    report = await verify_chain(rt)
    assert report.ok, report.problems


async def test_an_effect_on_a_core_step_gets_the_row_as_the_sessions(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer's plain step is read and written with Core; should an effect be
    registered for its action, the effect still sees a row the session tracks."""
    from sqlalchemy import inspect

    from tillpoint.checkout.effects import EffectCall

    seen: list[bool] = []

    async def mark(call: EffectCall) -> None:
        seen.append(inspect(call.checkout).persistent)
        call.context.marked = True  # a key the model does not name is kept too
        await call.s.flush()

    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    monkeypatch.setattr(rt, "actions", {**rt.actions, "setUserType": (mark,)})
    r = await send(api, cid, "SELECT_GUEST")
    monkeypatch.setattr(rt, "actions", {k: v for k, v in rt.actions.items() if k != "setUserType"})
    assert r.status_code == 200 and r.json()["state"] == State.guest_info.value, r.text
    assert seen == [True]
    r = await send(api, cid, "SUBMIT_GUEST_INFO", **GUEST)
    assert r.status_code == 200 and r.json()["version"] == 3, r.text
    async with rt.db.transaction() as s:
        from tillpoint.checkout.models import Checkout

        row = await s.get(Checkout, cid)
        assert row is not None and row.context.get("marked") is True
        assert row.state == State.shipping_address.value and row.version == 3
