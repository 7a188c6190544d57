"""``GET /api/admin/audit-logs``: admin only, filters, cursor pages, chain verification."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tests import factories
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.runtime import Runtime
from tillpoint.sessions.service import SessionContext
from tillpoint.web.deps import require_admin

URL = "/api/admin/audit-logs"


def _as_admin(app: Any, api: Api) -> None:
    # The auth feature owns logging in; this stands in for a logged-in admin's session.
    async def admin() -> SessionContext:
        return SessionContext(
            session_id="a" * 64,
            cart_id=api.session["cart_id"],
            expires_at=api.session["expires_at"],
            user_id="usr_admin",
            role="admin",
        )

    app.dependency_overrides[require_admin] = admin


async def _seed(rt: Runtime, clock: MovableClock) -> int:
    """Six rows of entity type "test"; returns the seq just before the first of them."""
    async with rt.db.transaction() as s:
        base = (await s.scalar(select(func.max(AuditLog.seq)))) or 0
    for i in range(6):
        async with rt.db.transaction() as s:
            await record(
                s,
                AuditEvent(
                    "item_added" if i % 2 == 0 else "cart_created", "test", f"cart_{i % 3}", "add"
                ),
                Actor(session_id=f"sess_{i % 2}", user_id="usr_1" if i < 3 else None),
                clock.now(),
            )
        clock.advance(minutes=10)
    return base


async def test_a_guest_cannot_read_the_audit_log(api: Api) -> None:
    r = await api.get(URL)
    assert r.status_code == 401 and error_code(r) == "login_required"


async def test_filters_and_cursor_pages(
    app: Any, api: Api, rt: Runtime, clock: MovableClock
) -> None:
    start = clock.now()
    base = await _seed(rt, clock)
    _as_admin(app, api)

    async def seqs(**params: Any) -> list[int]:
        r = await api.get(URL, params={"entity_type": "test", **params})
        assert r.status_code == 200, r.text
        return [i["seq"] - base for i in r.json()["items"]]

    page = (await api.get(URL, params={"limit": 4, "entity_type": "test"})).json()
    assert [i["seq"] - base for i in page["items"]] == [6, 5, 4, 3]
    assert await seqs(limit=4, cursor=page["next_cursor"]) == [2, 1]
    last = (await api.get(URL, params={"limit": 4, "cursor": page["next_cursor"]})).json()
    assert last["next_cursor"] is None

    assert await seqs(event_type="item_added") == [5, 3, 1]
    assert await seqs(event_type=["item_added", "cart_created"], entity_id="cart_0") == [4, 1]
    assert await seqs(user_id="usr_1") == [3, 2, 1]
    assert await seqs(session_id="sess_1") == [6, 4, 2]
    assert await seqs(entity_id="cart_2") == [6, 3]
    since = (start + timedelta(minutes=15)).isoformat()
    until = (start + timedelta(minutes=35)).isoformat()
    assert await seqs(since=since, until=until) == [4, 3]


async def test_bad_filters_are_refused_cleanly(app: Any, api: Api) -> None:
    _as_admin(app, api)
    for params in (
        {"since": "2026-01-01T00:00:00"},  # no offset: ambiguous
        {"cursor": "abc"},
        {"limit": 0},
        {"event_type": "DROP TABLE"},
    ):
        r = await api.get(URL, params=params)
        assert r.status_code == 422, (params, r.text)


async def test_items_carry_their_chain_hashes_and_the_chain_verifies(
    app: Any, api: Api, rt: Runtime, clock: MovableClock
) -> None:
    base = await _seed(rt, clock)
    _as_admin(app, api)
    items = (await api.get(URL)).json()["items"]
    assert items[0]["prev_hash"] == items[1]["hash"]
    report = (await api.get(f"{URL}/verify")).json()
    assert report == {
        "ok": True,
        "checked": base + 6,
        "head_seq": base + 6,
        "head_hash": items[0]["hash"],
        "problems": [],
    }


async def test_cart_creation_and_added_items_are_audited_in_their_transaction(
    app: Any, api: Api, rt: Runtime
) -> None:
    product = await factories.product(rt)
    r = await api.post("/api/cart/items", json={"product_id": product.id, "quantity": 2})
    assert r.status_code == 200, r.text
    failed = await api.post("/api/cart/items", json={"product_id": "prd_missing", "quantity": 1})
    assert failed.status_code >= 400
    _as_admin(app, api)
    items = (await api.get(URL, params={"entity_id": api.session["cart_id"]})).json()["items"]
    assert [i["event_type"] for i in items] == ["item_added", "cart_created"]
    assert items[0]["metadata"]["product_id"] == product.id
    assert items[0]["metadata"]["quantity"] == 2
