"""A shop's server makes a checkout session; the shopper follows its url, can go back to
the shop, pays with the offline sandbox gateway and lands on the shop's success page
with the session id filled in (the shop is a tiny loopback server)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
from tests.e2e.shopper import pay_with, screen, step, to_delivery
from tillpoint.api_keys.public import create_key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = f"<!doctype html><title>Shop</title><h1>Shop page</h1><p id=path>{self.path}</p>"
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop_port() -> int:
    return _free_port()


@pytest.fixture
def shop(shop_port: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", shop_port), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{shop_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings_overrides(shop_port: int) -> dict[str, Any]:
    return {"allowed_redirect_hosts": f"127.0.0.1:{shop_port}", "payment_gateway": "sandbox"}


@pytest.mark.parametrize("card", ["4242", "3155"], ids=["card", "3-d-secure"])
def test_pay_through_a_checkout_session_and_return_to_the_shop(
    page: Any, live: LiveServer, shop: str, card: str
) -> None:
    secret = live.call(lambda rt: create_key(rt, "e2e shop")).secret
    made = httpx.post(
        f"{live.url}/api/v1/checkout-sessions",
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": f"e2e-{card}"},
        json={
            "line_items": [
                {"sku": "TEA-ASSAM", "quantity": 2},
                {
                    "price_data": {"currency": "USD", "unit_amount": 350, "name": "Gift note"},
                    "quantity": 1,
                },
            ],
            "success_url": f"{shop}/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{shop}/cart",
            "client_reference_id": "shop-order-1",
            "customer_email": "buyer@example.com",
        },
        timeout=10,
    )
    assert made.status_code == 201, made.text
    session = made.json()

    # "Back to shop" goes to the cancel_url; the url opened again resumes the same cart.
    page.goto(session["url"])
    page.wait_for_selector("html[data-ready='true']")
    back = page.get_by_role("link", name="Back to shop")
    expect(back).to_have_attribute("href", f"{shop}/cart")
    # The shop's checkout leads nowhere else: not to tillpoint's own catalog or cart.
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    expect(page.locator("a.brand")).to_have_attribute("href", f"{shop}/cart")
    back.click()
    page.wait_for_url(f"{shop}/cart")
    page.goto(session["url"])
    page.wait_for_selector("html[data-ready='true']")
    summary = page.locator("#summary-lines")
    expect(summary).to_contain_text("2 \u00d7 Assam Breakfast Tea, 250 g")
    expect(summary).to_contain_text("1 \u00d7 Gift note")

    # customer_email prefills the contact form.
    expect(screen(page, "contact").get_by_label("Email", exact=True)).to_have_value(
        "buyer@example.com"
    )
    to_delivery(page, "buyer@example.com")
    pay_with(page, card)
    if card == "3155":  # the bank's challenge first, then the order
        challenge = step(page, "payment_requires_action")
        challenge.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{shop}/success?session_id={session['id']}")
    expect(page.locator("#path")).to_have_text(f"/success?session_id={session['id']}")

    got = httpx.get(
        f"{live.url}/api/v1/checkout-sessions/{session['id']}",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    ).json()
    assert got["status"] == "complete" and got["order_id"].startswith("ord_")
    assert got["client_reference_id"] == "shop-order-1"
    assert got["amount_subtotal"] == session["amount_subtotal"]
