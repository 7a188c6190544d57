"""``GET /api/admin/audit-logs``: admin only, filters, cursor pages, chain verification."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from tests import factories
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.audit.verify import ChainHeadState, anchor
from tillpoint.auth.session_context import SessionContext
from tillpoint.runtime import Runtime
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


async def _seed(rt: Runtime, clock: MovableClock) -> list[str]:
    """Six rows of entity type "test", ten minutes apart (over several chains); their ids."""
    ids = []
    for i in range(6):
        async with rt.db.transaction() as s:
            row = await record(
                s,
                AuditEvent(
                    "item_added" if i % 2 == 0 else "cart_created", "test", f"cart_{i % 3}", "add"
                ),
                Actor(session_id=f"sess_{i % 2}", user_id="usr_1" if i < 3 else None),
                clock.now(),
            )
        ids.append(row.id)
        clock.advance(minutes=10)
    return ids


async def test_a_guest_cannot_read_the_audit_log(api: Api) -> None:
    r = await api.get(URL)
    assert r.status_code == 401 and error_code(r) == "login_required"


async def test_filters_and_cursor_pages(
    app: Any, api: Api, rt: Runtime, clock: MovableClock
) -> None:
    start = clock.now()
    ids = await _seed(rt, clock)
    _as_admin(app, api)

    def numbers(items: list[dict[str, Any]]) -> list[int]:
        return [ids.index(i["id"]) + 1 for i in items]

    async def seqs(**params: Any) -> list[int]:
        r = await api.get(URL, params={"entity_type": "test", **params})
        assert r.status_code == 200, r.text
        return numbers(r.json()["items"])

    page = (await api.get(URL, params={"limit": 4, "entity_type": "test"})).json()
    assert numbers(page["items"]) == [6, 5, 4, 3]
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
        {"cursor": "12"},  # a seq alone: chains make it ambiguous
        {"cursor": "99999999999999999.0.1"},  # past any datetime
        {"cursor": "1.0.9999999999999999999"},  # past BIGINT
        {"limit": 0},
        {"event_type": "DROP TABLE"},
    ):
        r = await api.get(URL, params=params)
        assert r.status_code == 422, (params, r.text)


async def test_items_carry_their_chain_hashes_and_the_chain_verifies(
    app: Any, api: Api, rt: Runtime, clock: MovableClock
) -> None:
    await _seed(rt, clock)
    _as_admin(app, api)
    items = (await api.get(URL, params={"limit": 200})).json()["items"]
    by_chain: dict[int, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda i: (i["chain"], i["seq"])):
        by_chain.setdefault(item["chain"], []).append(item)
    assert len(by_chain) > 1
    for rows in by_chain.values():
        assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    heads = [
        ChainHeadState(chain, rows[-1]["seq"], rows[-1]["hash"])
        for chain, rows in sorted(by_chain.items())
    ]
    report = (await api.get(f"{URL}/verify")).json()
    assert report == {
        "ok": True,
        "checked": len(items),
        "head_seq": len(items),
        "head_hash": anchor(heads),
        "chains": [{"chain": h.chain, "seq": h.seq, "hash": h.hash} for h in heads],
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
