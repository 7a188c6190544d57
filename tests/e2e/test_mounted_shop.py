"""A purchase in Chromium through tillpoint mounted under ``/shop`` of a host FastAPI app
(``mount_tillpoint``), with the offline sandbox gateway: catalog, cart, checkout with a
3-D Secure challenge, confirmation and order page; the owner's dashboard; every request
under the prefix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.sync_api import expect

from tests.e2e.admin import admin_signed_in, make_accounts
from tests.e2e.conftest import LiveServer, serve_live
from tests.e2e.shopper import add_to_cart, open_page, pay_with, step, to_delivery
from tillpoint.config import Settings
from tillpoint.web.mount import mount_tillpoint

PREFIX = "/shop"
HOST_PAGE = (
    '<!doctype html><title>Host</title><link rel="icon" href="data:,">'
    '<h1>Host shop</h1><a href="/shop/">Checkout</a>'
)


def host_with(tillpoint: FastAPI) -> FastAPI:
    """The host shop: its own home page, and tillpoint mounted at /shop."""
    host = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @host.get("/", response_class=HTMLResponse)
    async def home() -> str:
        return HOST_PAGE

    mount_tillpoint(host, PREFIX, tillpoint)
    return host


@pytest.fixture
def live(request: pytest.FixtureRequest, settings: Settings, backend: str) -> Iterator[LiveServer]:
    """tillpoint served inside the host app (its lifespan run by the host's)."""
    yield from serve_live(request, settings, backend, host_with)


def test_a_purchase_through_the_shop_mounted_under_a_prefix(page: Any, live: LiveServer) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.goto("/")
    expect(page.get_by_role("heading", name="Host shop")).to_be_visible()
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url(f"**{PREFIX}/")
    page.wait_for_selector("html[data-ready='true']")
    expect(page.locator("html")).to_have_attribute("data-stock-stream", "open")
    add_to_cart(page, "Merino Wool Socks", 2)

    open_page(page, f"{PREFIX}/cart")
    expect(page.locator("li.line")).to_have_count(1)
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url(f"**{PREFIX}/checkout?id=*")
    page.wait_for_selector("html[data-ready='true']")
    to_delivery(page, "mounted@example.com")
    pay_with(page, "3155")
    challenge = step(page, "payment_requires_action")
    challenge.get_by_role("button", name="Complete authentication").click()
    panel = step(page, "order_confirmation")
    expect(panel.locator("[data-confirmation]")).to_contain_text(re.compile(r"Order TP-"))

    panel.get_by_role("link", name="View your order").click()
    page.wait_for_url(f"**{PREFIX}/orders/*")
    expect(page.locator("#order")).to_contain_text("2 \u00d7 Merino Wool Socks")

    # Every request after the host's home page went to tillpoint under the prefix: no
    # page, asset, API call or stream of ours was asked for at the root.
    paths = [r.path for r in live.received]
    assert paths[0] == "/"
    stray = [p for p in paths[1:] if not p.startswith(PREFIX + "/")]
    assert stray == [], stray
    for called in ("/api/session", "/api/payment/sandbox/authenticate"):
        assert PREFIX + called in paths, called
    # Live stock came over the WebSocket, under the prefix too.
    assert sockets, "the page opened no stock socket"
    assert all(urlsplit(url).path == PREFIX + "/api/inventory/ws" for url in sockets), sockets


def test_the_owner_signs_in_and_out_of_the_mounted_dashboard(page: Any, live: LiveServer) -> None:
    make_accounts(live)
    admin_signed_in(page, f"{PREFIX}/admin/orders")  # via /shop/admin/login?next=...
    page.get_by_role("link", name="Products").click()
    page.wait_for_url(f"**{PREFIX}/admin/products")
    page.wait_for_selector("html[data-ready='true']")
    first = page.locator("#product-table tbody a").first
    expect(first).to_have_attribute("href", re.compile(rf"^{PREFIX}/admin/products/prod_"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"**{PREFIX}/admin/login?signed_out=1")
    paths = [r.path for r in live.received]
    assert [p for p in paths if not p.startswith(PREFIX + "/")] == []
