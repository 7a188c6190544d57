"""The order as the shopper reads it: amounts formatted for their locale with Babel next
to the integers, lines that add up to the subtotal, refund statuses in words."""

from __future__ import annotations

from typing import Any

from tests.payment_support import paid_order
from tests.support import Api
from tillpoint.runtime import Runtime


def _gateway(api: Api) -> Any:
    return api.client._transport.app.state.gateway  # type: ignore[attr-defined]


async def test_amounts_follow_accept_language_and_lines_add_up_to_the_subtotal(
    user_api: Api, rt: Runtime
) -> None:
    me = (await user_api.get("/api/auth/me")).json()
    order = await paid_order(rt, _gateway(user_api), user_id=me["id"])
    r = await user_api.get(f"/api/orders/{order.id}")
    body = r.json()
    shown = body["display"]
    assert shown["locale"] == "en_US" and r.headers["content-language"] == "en-US"
    assert "Accept-Language" in r.headers["vary"]
    assert [line["amount"] for line in shown["lines"]] == ["$60.00", "$20.00"]
    assert sum(line["amount"] for line in body["lines"]) == body["totals"]["subtotal"]
    assert (shown["subtotal"], shown["discount"], shown["shipping"], shown["tax"]) == (
        "$80.00", "-$8.00", "$5.00", "$6.16",
    )  # fmt: skip
    assert shown["total"] == "$83.16" and shown["status"] == "Paid"
    german = await user_api.get(
        f"/api/orders/{order.id}", headers={"Accept-Language": "de-DE,de;q=0.9"}
    )
    assert german.json()["display"]["total"] == "83,16\u00a0$"
    assert german.headers["content-language"] == "de-DE"
    unknown = await user_api.get(f"/api/orders/{order.id}", headers={"Accept-Language": "xx"})
    assert unknown.json()["display"]["total"] == "$83.16"  # the shop's locale


async def test_refunds_read_in_words(user_api: Api, admin_api: Api, rt: Runtime) -> None:
    me = (await user_api.get("/api/auth/me")).json()
    order = await paid_order(rt, _gateway(user_api), user_id=me["id"])
    r = await admin_api.post(f"/api/admin/orders/{order.id}/refunds", json={"amount": 1050})
    assert r.status_code == 201, r.text
    body = (await user_api.get(f"/api/orders/{order.id}")).json()
    assert body["status"] == "partially_refunded"
    shown = body["display"]
    assert shown["status"] == "Partly refunded"
    assert shown["refunded"] == "$10.50"
    assert shown["refunds"] == [
        {"amount": "$10.50", "status": "Refunded", "text": "Refunded: $10.50"}
    ]
