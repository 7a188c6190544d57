"""Live stock in the browser over each transport: the WebSocket channel where the browser
has it, and the Server-Sent Events stream when it has not or the socket fails."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
from tests.e2e.shopper import add_to_cart, cart_line, open_page
from tests.e2e.test_live_stock import set_stock


def candle_on_the_cart_page(page: Any) -> Any:
    open_page(page, "/")
    add_to_cart(page, "Cedar & Smoke Candle", 2)
    open_page(page, "/cart")
    line = cart_line(page, "Cedar & Smoke Candle")
    expect(line.locator(".stock")).to_have_text("In stock")
    return line


def stream_requests(live: LiveServer) -> list[str]:
    return [r.path for r in live.received if r.path == "/api/inventory/stream"]


def test_stock_updates_over_websocket(page: Any, live: LiveServer) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    line = candle_on_the_cart_page(page)
    html = page.locator("html")
    expect(html).to_have_attribute("data-stock-transport", "websocket")
    expect(html).to_have_attribute("data-stock-stream", "open")
    set_stock(live, "CANDLE-CEDAR", 1)
    expect(line.locator(".stock")).to_have_text("Only 1 left")
    set_stock(live, "CANDLE-CEDAR", 0)
    expect(line.locator(".stock")).to_have_text("Out of stock")
    assert sockets and all(url.endswith("/api/inventory/ws") for url in sockets)
    assert stream_requests(live) == []  # the SSE stream was never needed


def test_without_websocket_the_page_uses_sse(page: Any, live: LiveServer) -> None:
    page.add_init_script("delete window.WebSocket")
    line = candle_on_the_cart_page(page)
    html = page.locator("html")
    expect(html).to_have_attribute("data-stock-transport", "sse")
    expect(html).to_have_attribute("data-stock-stream", "open")
    set_stock(live, "CANDLE-CEDAR", 1)
    expect(line.locator(".stock")).to_have_text("Only 1 left")
    assert stream_requests(live)


def test_a_socket_that_fails_falls_back_to_sse(page: Any, live: LiveServer) -> None:
    # A proxy that refuses WebSockets: the socket closes before it ever subscribes.
    page.route_web_socket("**/api/inventory/ws", lambda ws: ws.close(code=1011))
    line = candle_on_the_cart_page(page)
    expect(page.locator("html")).to_have_attribute("data-stock-transport", "sse")
    expect(page.locator("html")).to_have_attribute("data-stock-stream", "open")
    set_stock(live, "CANDLE-CEDAR", 0)
    expect(line.locator(".stock")).to_have_text("Out of stock")
    assert stream_requests(live)
