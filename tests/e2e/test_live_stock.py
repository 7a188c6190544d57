"""Stock badges and the live stock stream in the browser (needs the inventory feature)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.conftest import LiveServer
from tests.e2e.shopper import add_to_cart, cart_line, open_page, product_card
from tillpoint.catalog.models import Product


def set_stock(live: LiveServer, sku: str, on_hand: int) -> None:
    """What a stock room does: a product's new level, through the inventory service, in
    the server's process (so its stream hears of it)."""
    from tillpoint.inventory.levels import adjust_stock

    async def change(rt: Any) -> None:
        async with rt.db.transaction() as s:
            product_id = await s.scalar(select(Product.id).where(Product.sku == sku))
        await adjust_stock(rt, product_id, reason="browser test", on_hand=on_hand)

    live.call(change)


def test_catalog_shows_stock_per_option(page: Any, live: LiveServer, shots: Any) -> None:
    open_page(page, "/")
    card = product_card(page, "Organic Cotton T-Shirt")
    badge = card.locator(".stock")
    card.get_by_label("Option").select_option(label="Size M")
    expect(badge).to_have_text("In stock")
    card.get_by_label("Option").select_option(label="Size XL")
    expect(badge).to_have_text("Out of stock")
    expect(card.get_by_role("button", name="Add to cart")).to_be_disabled()
    expect(product_card(page, "Gooseneck Kettle").locator(".stock")).to_have_text(
        "Available on backorder"
    )
    shots(page, "catalog-stock")


def test_stock_going_out_while_on_the_cart_page(page: Any, live: LiveServer, shots: Any) -> None:
    open_page(page, "/")
    add_to_cart(page, "Cedar & Smoke Candle", 2)
    open_page(page, "/cart")
    line = cart_line(page, "Cedar & Smoke Candle")
    expect(line.locator(".stock")).to_have_text("In stock")
    # An attribute assertion, not wait_for_function: its in-page polling evaluates a
    # string, which the page's CSP (no 'unsafe-eval') refuses when the first check fails.
    expect(page.locator("html")).to_have_attribute("data-stock-stream", "open")

    set_stock(live, "CANDLE-CEDAR", 1)
    expect(line.locator(".stock")).to_have_text("Only 1 left")
    expect(line.locator(".notice")).to_have_text("Only 1 left: lower the quantity to check out.")
    set_stock(live, "CANDLE-CEDAR", 0)
    expect(line.locator(".stock")).to_have_text("Out of stock")
    expect(line.locator(".notice")).to_have_text("Out of stock: remove it to check out.")
    expect(page.get_by_role("link", name="Checkout")).to_have_attribute("aria-disabled", "true")
    shots(page, "sold-out")
    page.get_by_role("link", name="Checkout").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#page-error")).to_contain_text("out of stock")
    assert page.url.endswith("/cart")
