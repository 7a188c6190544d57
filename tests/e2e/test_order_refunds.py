"""The shopper's order page in Chromium, at 1280 and 360 px, after the shop refunds part
of the order and then the rest: the statuses read in words ("Partly refunded",
"Refunded"), never the API's codes, with the amounts given back."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import guest_to_payment, no_horizontal_scroll, pay_with, step
from tillpoint.auth.public import create_user
from tillpoint.runtime import Runtime

ADMIN = ("refunds-admin@example.com", "a refunding admin passphrase 9")


def _sign_in_admin(live: LiveServer, client: httpx.Client) -> None:
    """An admin, signed in through the live server's API in ``client``."""

    async def make(rt: Runtime) -> None:
        await create_user(rt, email=ADMIN[0], password=ADMIN[1], role="admin")

    live.call(make)
    token = client.get("/api/session").json()["csrf_token"]
    r = client.post(
        "/api/auth/login",
        json={"email": ADMIN[0], "password": ADMIN[1]},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]


def _refund(admin: httpx.Client, order_id: str, amount: int | None) -> None:
    body = {} if amount is None else {"amount": amount}
    r = admin.post(f"/api/admin/orders/{order_id}/refunds", json=body)
    assert r.status_code == 201, r.text


def _order_page(tab: Any) -> Any:
    tab.reload()
    tab.wait_for_selector("html[data-ready='true']")
    return tab.locator("#order")


def test_refunds_read_in_words_on_the_order_page(tab: Any, live: LiveServer, shots: Any) -> None:
    guest_to_payment(tab, ("Canvas Tote Bag", 2), email="refunded@example.com")
    pay_with(tab, "4242")
    step(tab, "order_confirmation").get_by_role("link", name="View your order").click()
    tab.wait_for_url(re.compile(r"/orders/ord_"))
    order_id = tab.url.split("/orders/")[1].split("?")[0]
    expect(tab.locator("#order .order-status")).to_have_text("Status: Paid")

    with httpx.Client(base_url=live.url, timeout=30) as admin:
        _sign_in_admin(live, admin)
        _refund(admin, order_id, 1050)
        order = _order_page(tab)
        expect(order.locator(".order-status")).to_have_text("Status: Partly refunded")
        expect(order).to_contain_text("Refunded: $10.50")
        expect(order).not_to_contain_text("partially_refunded")
        assert_accessible(tab, context="order page, partly refunded")
        no_horizontal_scroll(tab)
        shots(tab, "partly-refunded")

        _refund(admin, order_id, None)  # the rest
        order = _order_page(tab)
        expect(order.locator(".order-status")).to_have_text("Status: Refunded")
        expect(order).to_contain_text("Refunded: $10.50")
        expect(order).not_to_contain_text("refunded_")
        expect(order).not_to_contain_text("partially_refunded")
        shots(tab, "refunded")
