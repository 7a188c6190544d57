"""The API docs render in a browser with no internet access: Swagger UI and ReDoc come
from the shop itself, under its Content-Security-Policy."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_swagger_ui_renders_the_api_offline(page: Any, live: LiveServer) -> None:
    # The page fixture fails the test on any Content-Security-Policy complaint.
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("tillpoint")
    expect(page.locator(".opblock-summary-path", has_text="/api/cart/items").first).to_be_visible()


def test_redoc_renders_the_api_offline(browser: Any, live: LiveServer) -> None:
    context = browser.new_context(base_url=live.url)
    page = context.new_page()
    complaints: list[str] = []
    page.on("pageerror", lambda exc: complaints.append(str(exc)))
    page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    try:
        page.goto("/redoc")
        expect(page.locator("h1").first).to_contain_text("tillpoint")
        expect(page.get_by_text("/api/cart/items").first).to_be_attached()
    finally:
        context.close()
    assert "/docs/assets/redoc.standalone.js" in {r.path for r in live.received}
    # ReDoc always tries its vendor's logo from the vendor's CDN (and hides it when that
    # fails): the policy blocks that, and nothing else.
    assert [c for c in complaints if REDOCLY_LOGO not in c] == []
