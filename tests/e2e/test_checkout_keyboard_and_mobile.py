"""The checkout without a mouse, and on a 360 px wide phone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import (
    US_ADDRESS,
    fill_contact,
    focused,
    no_horizontal_scroll,
    open_page,
    screen,
    start_checkout,
    tab_to,
)


def type_into(page: Any, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Control+a")
    page.keyboard.type(text)


def test_checkout_by_keyboard_only(page: Any, live: LiveServer, shots: Any) -> None:
    open_page(page, "/")
    tab_to(page, "form[data-product-name='Canvas Tote Bag'] button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("[data-cart-count]").first).to_have_text("1")
    page.keyboard.press("Control+Home")
    tab_to(page, "a[href='/cart']", backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_selector("html[data-ready='true']")
    tab_to(page, "#to-checkout")
    page.keyboard.press("Enter")
    page.wait_for_url("**/checkout?id=*")

    screen(page, "contact")
    page.wait_for_selector("#shipping-street1")
    type_into(page, "#guest-email", "kb@example.com")
    type_into(page, "#shipping-first_name", "Key")
    type_into(page, "#shipping-last_name", "Board")
    type_into(page, "#shipping-street1", US_ADDRESS["street1"])
    type_into(page, "#shipping-city", US_ADDRESS["city"])
    tab_to(page, "#shipping-state-select")
    page.keyboard.type("New York")
    type_into(page, "#shipping-zip_code", "10001")
    page.keyboard.press("Enter")

    screen(page, "delivery")
    # Each new screen takes focus at its heading, so Tab continues inside it.
    assert focused(page)["id"] == "step-heading"
    page.wait_for_selector("input[name=shipping_method_id]")
    tab_to(page, "input[name=shipping_method_id]")
    page.keyboard.press("ArrowDown")  # the second option
    chosen = page.locator("label.choice:has(input[name=shipping_method_id]:checked) strong")
    chosen_name = (chosen.text_content() or "").split(" — ")[0]
    assert chosen_name
    tab_to(page, "#step button[type=submit]")
    page.keyboard.press("Enter")

    panel = screen(page, "review")
    expect(panel.locator("[data-review='shipping_address']")).to_contain_text("NY 10001")
    expect(panel.locator("[data-review='shipping_method']")).to_contain_text(chosen_name)
    tab_to(page, "button[data-event=CONFIRM_ORDER]")
    shots(page, "keyboard-review")


def test_checkout_at_360_px(mobile_page: Any, live: LiveServer, shots: Any) -> None:
    page = mobile_page
    start_checkout(page, ("Stoneware Mug", 1))
    no_horizontal_scroll(page)
    fill_contact(page, "phone@example.com")
    no_horizontal_scroll(page)
    shots(page, "contact-mobile")
    page.get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    screen(page, "review")
    no_horizontal_scroll(page)
    assert_accessible(page, context="review at 360 px")
    shots(page, "review-mobile")
