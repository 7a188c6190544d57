"""``/api/admin/webhook-endpoints``: admin only, no-store, audited; the secret shown on
create and rotate only; 422 with field paths; deliveries listed newest first; a rotated
secret verifies during its grace and not after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.payment_support import paid_order
from tests.support import Api, error_code
from tests.webhook_receiver import Receiver, documented_verifier, serve_receiver
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import deliver_webhooks

URL = "/api/admin/webhook-endpoints"
SOME_ID = "whep_" + "a" * 22


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


async def _make(admin_api: Api, url: str, *events: str) -> dict[str, Any]:
    body = {"url": url, "events": list(events or ["order.paid"]), "description": "ERP"}
    r = await admin_api.post(URL, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/{SOME_ID}"),
        ("PATCH", f"{URL}/{SOME_ID}"),
        ("DELETE", f"{URL}/{SOME_ID}"),
        ("POST", f"{URL}/{SOME_ID}/rotate-secret"),
        ("GET", f"{URL}/{SOME_ID}/deliveries"),
    ],
)
async def test_only_admins_manage_webhook_endpoints(
    api: Api, user_api: Api, method: str, path: str
) -> None:
    body = {"url": "http://127.0.0.1:9/x", "events": ["order.paid"]}
    json = body if method in ("POST", "PATCH") else None
    r = await api.request(method, path, json=json)
    assert r.status_code == 401 and error_code(r) == "login_required"
    r = await user_api.request(method, path, json=json)
    assert r.status_code == 403 and error_code(r) == "admin_required"


async def test_create_read_list_update_delete_with_audit_and_no_store(
    admin_api: Api, rt: Runtime
) -> None:
    made = await _make(admin_api, "http://127.0.0.1:9/a", "order.paid", "order.created")
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert (made["events"], made["description"], made["active"]) == (
        ["order.created", "order.paid"], "ERP", True
    )  # fmt: skip
    r = await admin_api.get(f"{URL}/{made['id']}")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    shown = r.json()
    assert "secret" not in shown and shown == {k: v for k, v in made.items() if k != "secret"}
    other = await _make(admin_api, "http://127.0.0.1:9/b")
    page = (await admin_api.get(URL, params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    rest = (await admin_api.get(URL, params={"cursor": page["next_cursor"]})).json()
    ids = {page["items"][0]["id"], rest["items"][0]["id"]}
    assert ids == {made["id"], other["id"]} and rest["next_cursor"] is None
    assert all("secret" not in item for item in page["items"] + rest["items"])
    r = await admin_api.patch(
        f"{URL}/{made['id']}",
        json={"active": False, "description": None, "events": ["order.refunded"]},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["active"], r.json()["description"], r.json()["events"]) == (
        False, None, ["order.refunded"]
    )  # fmt: skip
    r = await admin_api.delete(f"{URL}/{made['id']}")
    assert r.status_code == 204
    r = await admin_api.get(f"{URL}/{made['id']}")
    assert r.status_code == 404 and error_code(r) == "webhook_endpoint_not_found"
    async with rt.db.transaction() as s:
        rows = await s.scalars(select(AuditLog).where(AuditLog.entity_type == "webhook_endpoint"))
        logged = [(row.entity_id, row.event_type) for row in rows]
    assert sorted(logged) == sorted([
        (made["id"], "webhook_endpoint_created"),
        (other["id"], "webhook_endpoint_created"),
        (made["id"], "webhook_endpoint_updated"),
        (made["id"], "webhook_endpoint_deleted"),
    ])  # fmt: skip
    assert made["secret"] not in str(logged)


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"url": "ftp://example.com/x", "events": ["order.paid"]}, ["url"], "invalid_webhook_url"),
        ({"url": "http://127.0.0.1:9/x", "events": ["order.shipped"]}, ["events", 0], None),
        ({"url": "http://127.0.0.1:9/x", "events": []}, ["events"], None),
        ({"events": ["order.paid"]}, ["url"], None),
        ({"url": "http://127.0.0.1:9/x", "events": ["order.paid"], "extra": 1}, ["extra"], None),
        ({"url": "http://x/" + "a" * 2000, "events": ["order.paid"]}, ["url"], None),
    ],
)
async def test_bad_bodies_are_refused_with_their_field_path(
    admin_api: Api, body: dict[str, Any], path: list[Any], code: str | None
) -> None:
    r = await admin_api.post(URL, json=body)
    assert r.status_code == 422, r.text
    fields = r.json()["error"]["fields"]
    assert path in [f["path"] for f in fields], r.text
    if code is not None:
        assert error_code(r) == code
    assert (await admin_api.get(URL)).json()["items"] == []


@pytest.mark.parametrize("field", ["url", "events", "active"])
async def test_patch_with_null_for_a_required_field_is_refused(admin_api: Api, field: str) -> None:
    made = await _make(admin_api, "http://127.0.0.1:9/a")
    r = await admin_api.patch(f"{URL}/{made['id']}", json={field: None})
    assert r.status_code == 422
    assert [(f["path"], f["code"]) for f in r.json()["error"]["fields"]] == [
        ([field], "null_not_allowed")
    ]


async def test_deliveries_and_rotation_grace_over_http(
    admin_api: Api, rt: Runtime, receiver: Receiver, clock: Any
) -> None:
    made = await _make(admin_api, receiver.url, "order.created", "order.paid")
    await paid_order(rt, rt.gateway)
    r = await admin_api.post(f"{URL}/{made['id']}/rotate-secret")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    rotated = r.json()
    assert rotated["id"] == made["id"] and rotated["secret"] != made["secret"]
    assert await deliver_webhooks(rt) == 2
    verify = documented_verifier()
    now = clock.now().timestamp()
    for got in receiver.received:
        header = got.headers["Tillpoint-Signature"]
        assert verify(got.body, header, made["secret"], now=now)  # old: in its grace
        assert verify(got.body, header, rotated["secret"], now=now)
    page = (await admin_api.get(f"{URL}/{made['id']}/deliveries", params={"limit": 1})).json()
    (first,) = page["items"]
    assert set(first) == {
        "id", "event_id", "event_type", "status", "attempts", "last_status_code",
        "last_error", "next_attempt_at", "delivered_at", "created_at",
    }  # fmt: skip
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("delivered", 1, 200)
    rest = (
        await admin_api.get(
            f"{URL}/{made['id']}/deliveries", params={"cursor": page["next_cursor"]}
        )
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    types = {first["event_type"], rest["items"][0]["event_type"]}
    assert types == {"order.created", "order.paid"}
    clock.advance(hours=24, seconds=1)  # the grace (24 h by default) is over
    await paid_order(rt, rt.gateway)
    await deliver_webhooks(rt)
    got = receiver.received[-1]
    header, now = got.headers["Tillpoint-Signature"], clock.now().timestamp()
    assert not verify(got.body, header, made["secret"], now=now)
    assert verify(got.body, header, rotated["secret"], now=now)


async def test_a_bad_deliveries_cursor_is_refused(admin_api: Api) -> None:
    made = await _make(admin_api, "http://127.0.0.1:9/a")
    r = await admin_api.get(f"{URL}/{made['id']}/deliveries", params={"cursor": "whdl_x"})
    assert r.status_code == 422 and error_code(r) == "invalid_cursor"
