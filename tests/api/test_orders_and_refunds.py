"""Orders over HTTP (who may read them) and admin refunds: full, partial, prorated,
over-refund refused, idempotent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.payment_support import paid_order
from tests.support import Api, error_code
from tillpoint.auth.cookies import cookie_names
from tillpoint.auth.tokens import session_id_for
from tillpoint.orders.service import order_access_token
from tillpoint.runtime import Runtime


def _gateway(api: Api) -> Any:
    return api.client._transport.app.state.gateway  # type: ignore[attr-defined]


async def test_registered_user_lists_only_their_orders_newest_first(
    user_api: Api, new_api: Any, rt: Runtime, clock: Any
) -> None:
    me = (await user_api.get("/api/auth/me")).json()
    mine = []
    for _ in range(3):
        mine.append(await paid_order(rt, _gateway(user_api), user_id=me["id"]))
        clock.advance(seconds=1)
    await paid_order(rt, _gateway(user_api), user_id=None)
    page = (await user_api.get("/api/orders", params={"limit": 2})).json()
    assert [o["id"] for o in page["items"]] == [mine[2].id, mine[1].id]
    rest = (await user_api.get("/api/orders", params={"cursor": page["next_cursor"]})).json()
    assert [o["id"] for o in rest["items"]] == [mine[0].id]
    assert rest["next_cursor"] is None
    guest: Api = await new_api()
    assert error_code(await guest.get("/api/orders")) == "login_required"


async def test_order_shape_has_number_lines_totals_and_card(user_api: Api, rt: Runtime) -> None:
    me = (await user_api.get("/api/auth/me")).json()
    order = await paid_order(rt, _gateway(user_api), user_id=me["id"])
    body = (await user_api.get(f"/api/orders/{order.id}")).json()
    assert body["number"].startswith("TP-") and body["status"] == "paid"
    assert body["totals"] == {
        "subtotal": 8000, "discount": 800, "shipping": 500, "tax": 616, "total": 8316,
        "refunded": 0,
    }  # fmt: skip
    assert [line["total"] for line in body["lines"]] == [5832, 1944]
    assert body["payment"]["card_last4"] == "4242" and body["payment"]["amount"] == 8316
    assert "access_token" not in body


async def test_guest_reads_their_order_with_the_access_token_only(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    order = await paid_order(rt, _gateway(api), session_id=None)
    stranger: Api = await new_api()
    url = f"/api/orders/{order.id}"
    assert error_code(await stranger.get(url)) == "order_not_found"
    assert error_code(await stranger.get(url, params={"token": "x" * 40})) == "order_not_found"
    token = order_access_token(rt.settings, order.id)
    assert (await stranger.get(url, params={"token": token})).status_code == 200
    no_session: Api = await new_api(start=False)
    ok = await no_session.get(url, headers={"X-Order-Token": token})
    assert ok.status_code == 200 and ok.json()["id"] == order.id


async def test_placing_session_gets_the_order_of_its_checkout_with_token(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    token = api.client.cookies[cookie_names(rt.settings).session]
    order = await paid_order(rt, _gateway(api), session_id=session_id_for(token))
    body = (await api.get(f"/api/orders/by-checkout/{order.checkout_id}")).json()
    assert body["id"] == order.id
    assert body["access_token"] == order_access_token(rt.settings, order.id)
    other: Api = await new_api()
    missing = await other.get(f"/api/orders/by-checkout/{order.checkout_id}")
    assert error_code(missing) == "order_not_found"


async def test_partial_refund_is_prorated_and_then_the_rest_refunds_fully(
    admin_api: Api, rt: Runtime
) -> None:
    order = await paid_order(rt, _gateway(admin_api))
    url = f"/api/admin/orders/{order.id}/refunds"
    first = await admin_api.post(url, json={"amount": 1000, "reason": "damaged"})
    assert first.status_code == 201, first.text
    refund = first.json()["refund"]
    assert refund["status"] == "succeeded" and refund["amount"] == 1000
    lines = first.json()["order"]["lines"]
    # 5832 : 1944 : 540 of 8316 -> 701.3, 233.8, 64.9 -> 701, 234, 65
    assert refund["allocation"] == {lines[0]["id"]: 701, lines[1]["id"]: 234, "shipping": 65}
    assert first.json()["order"]["status"] == "partially_refunded"
    assert [line["refunded"] for line in lines] == [701, 234]
    rest = await admin_api.post(url, json={})
    assert rest.status_code == 201
    assert rest.json()["refund"]["amount"] == 7316
    assert rest.json()["order"]["status"] == "refunded"
    assert rest.json()["order"]["totals"]["refunded"] == 8316


async def test_over_refund_is_refused_and_changes_nothing(admin_api: Api, rt: Runtime) -> None:
    order = await paid_order(rt, _gateway(admin_api))
    url = f"/api/admin/orders/{order.id}/refunds"
    assert (await admin_api.post(url, json={"amount": 8000})).status_code == 201
    refused = await admin_api.post(url, json={"amount": 317})
    assert refused.status_code == 422
    assert error_code(refused) == "refund_exceeds_refundable"
    assert refused.json()["error"]["details"] == {"refundable": 316, "requested": 317}
    body = (await admin_api.get(f"/api/orders/{order.id}", params={
        "token": order_access_token(rt.settings, order.id)})).json()  # fmt: skip
    assert body["totals"]["refunded"] == 8000 and len(body["refunds"]) == 1


async def test_same_idempotency_key_returns_the_first_refund(admin_api: Api, rt: Runtime) -> None:
    order = await paid_order(rt, _gateway(admin_api))
    url = f"/api/admin/orders/{order.id}/refunds"
    headers = {"Idempotency-Key": "refund-once-123"}
    one = await admin_api.post(url, json={"amount": 500}, headers=headers)
    two = await admin_api.post(url, json={"amount": 500}, headers=headers)
    assert (one.status_code, two.status_code) == (201, 200)
    assert one.json()["refund"] == two.json()["refund"]
    assert two.json()["order"]["totals"]["refunded"] == 500


@pytest.mark.parametrize("body", [{"amount": 0}, {"amount": -5}, {"amount": "10"}, {"x": 1}])
async def test_bad_refund_input_is_422(admin_api: Api, rt: Runtime, body: dict[str, Any]) -> None:
    order = await paid_order(rt, _gateway(admin_api))
    response = await admin_api.post(f"/api/admin/orders/{order.id}/refunds", json=body)
    assert response.status_code == 422


async def test_refunds_need_the_admin_role(user_api: Api, rt: Runtime) -> None:
    order = await paid_order(rt, _gateway(user_api))
    response = await user_api.post(f"/api/admin/orders/{order.id}/refunds", json={})
    assert error_code(response) == "admin_required"
