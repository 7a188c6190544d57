"""The catalog and the cart page in a real browser: adding, changing, removing,
keyboard only, at 360 px, with axe-core finding no serious or critical problems."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import (
    add_to_cart,
    cart_line,
    focused,
    no_horizontal_scroll,
    open_page,
    tab_to,
    total_text,
)


def test_add_to_cart_from_catalog_then_cart_shows_lines_and_totals(
    page: Any, live: LiveServer, shots: Any
) -> None:
    open_page(page, "/")
    expect(page.get_by_role("heading", name="Stoneware Mug")).to_be_visible()
    assert_accessible(page, context="catalog")
    add_to_cart(page, "Stoneware Mug", 2, option="Slate")
    add_to_cart(page, "Sencha Green Tea, 100 g", 1)
    expect(page.locator("#announcer")).to_have_text(
        "Added 1 \u00d7 Sencha Green Tea, 100 g to your cart."
    )
    shots(page, "catalog")

    open_page(page, "/cart")
    expect(cart_line(page, "Stoneware Mug — Slate")).to_be_visible()
    expect(cart_line(page, "Stoneware Mug — Slate").get_by_label("Quantity of")).to_have_value("2")
    expect(cart_line(page, "Sencha Green Tea, 100 g")).to_contain_text("Line total $12.50")
    expect(total_text(page, "subtotal")).to_have_text("$48.50")
    expect(total_text(page)).to_have_text("$48.50")
    expect(page.locator("[data-cart-count]").first).to_have_text("3")
    assert_accessible(page, context="cart")
    shots(page, "cart")


def test_changing_quantity_and_removing_lines_updates_totals_live(
    page: Any, live: LiveServer, shots: Any
) -> None:
    open_page(page, "/")
    add_to_cart(page, "Gooseneck Kettle", 1)
    add_to_cart(page, "Canvas Tote Bag", 2)
    open_page(page, "/cart")
    expect(total_text(page)).to_have_text("$99.00")

    kettle = cart_line(page, "Gooseneck Kettle")
    kettle.get_by_label("Quantity of").fill("3")
    kettle.get_by_role("button", name="Update").click()
    expect(total_text(page)).to_have_text("$237.00")
    expect(kettle).to_contain_text("Line total $207.00")
    expect(page.locator("#announcer")).to_contain_text("Quantity of Gooseneck Kettle is now 3")

    # A quantity the server refuses is shown next to the input, which gets focus.
    kettle.get_by_label("Quantity of").fill("1000")
    kettle.get_by_role("button", name="Update").click()
    error = kettle.locator(".field-error")
    expect(error).to_contain_text("Quantity must be between 1 and 999")
    expect(kettle.get_by_label("Quantity of")).to_have_attribute("aria-invalid", "true")
    expect(kettle.get_by_label("Quantity of")).to_be_focused()
    expect(total_text(page)).to_have_text("$237.00")
    shots(page, "quantity-error")

    cart_line(page, "Canvas Tote Bag").get_by_role("button", name="Remove").click()
    expect(cart_line(page, "Canvas Tote Bag")).to_have_count(0)
    expect(total_text(page)).to_have_text("$207.00")
    expect(page.locator("[data-cart-count]").first).to_have_text("3")

    # Quantity 0 removes the last line: the empty cart says so.
    kettle.get_by_label("Quantity of").fill("0")
    kettle.get_by_label("Quantity of").press("Enter")
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    expect(page.locator("[data-cart-count]").first).to_have_text("")

    # The server kept all of it: a reload shows the same empty cart.
    open_page(page, "/cart")
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    shots(page, "empty")


def test_a_change_from_another_window_is_not_overwritten(
    page: Any, new_page: Any, live: LiveServer
) -> None:
    open_page(page, "/")
    add_to_cart(page, "Merino Wool Socks", 1, option="L/XL")
    open_page(page, "/cart")
    other = new_page(page.context)
    open_page(other, "/cart")
    cart_line(other, "Merino Wool Socks — L/XL").get_by_label("Quantity of").fill("4")
    cart_line(other, "Merino Wool Socks — L/XL").get_by_role("button", name="Update").click()
    expect(total_text(other)).to_have_text("$64.00")

    # The first window still shows quantity 1 and writes with its old version: refused (412).
    line = cart_line(page, "Merino Wool Socks — L/XL")
    line.get_by_label("Quantity of").fill("2")
    line.get_by_role("button", name="Update").click()
    alert = page.locator("#page-error")
    expect(alert).to_contain_text("Your cart changed in another window")
    expect(alert).to_be_focused()
    expect(line.get_by_label("Quantity of")).to_have_value("4")
    expect(total_text(page)).to_have_text("$64.00")


def test_cart_by_keyboard_only(page: Any, live: LiveServer, shots: Any) -> None:
    open_page(page, "/")
    # Reach the tea's quantity and Add button with Tab alone, type, press Enter.
    tab_to(page, "input[name=quantity][id^=qty-]:is([aria-describedby])")
    tab_to(page, "form[data-product-name='Assam Breakfast Tea, 250 g'] input[name=quantity]")
    page.keyboard.press("Control+a")
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    assert focused(page)["text"].startswith("Add to cart")
    page.keyboard.press("Enter")
    expect(page.locator("[data-cart-count]").first).to_have_text("2")

    # Back to the top of the page, into the header's cart link.
    page.keyboard.press("Control+Home")
    tab_to(page, "a[href='/cart']", backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_url("**/cart")
    page.wait_for_selector("html[data-ready='true']")
    expect(total_text(page)).to_have_text("$29.80")

    tab_to(page, "li.line input[data-role=qty]")
    page.keyboard.press("Control+a")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(total_text(page)).to_have_text("$44.70")
    # Focus stays on the same control after the line is redrawn.
    assert focused(page)["role"] == "qty"

    tab_to(page, "li.line [data-role=remove]")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    assert focused(page)["tag"] == "h1"
    shots(page, "keyboard-empty")


def test_catalog_and_cart_at_360_px(mobile_page: Any, live: LiveServer, shots: Any) -> None:
    page = mobile_page
    open_page(page, "/")
    no_horizontal_scroll(page)
    add_to_cart(page, "Organic Cotton T-Shirt", 1, option="Size M")
    shots(page, "catalog-mobile")
    open_page(page, "/cart")
    expect(cart_line(page, "Organic Cotton T-Shirt — Size M")).to_be_visible()
    expect(total_text(page)).to_have_text("$25.00")
    no_horizontal_scroll(page)
    assert_accessible(page, context="cart at 360 px")
    shots(page, "cart-mobile")
