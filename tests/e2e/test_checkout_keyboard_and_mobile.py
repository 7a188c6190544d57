"""The checkout without a mouse, and on a 360 px wide phone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import (
    US_ADDRESS,
    fill_address,
    fill_guest,
    focused,
    no_horizontal_scroll,
    open_page,
    start_checkout,
    step,
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

    step(page, "user_identification")
    tab_to(page, "button[data-event=SELECT_GUEST]")
    page.keyboard.press("Enter")
    step(page, "guest_info")
    # Each new step takes focus at its heading, so Tab continues inside it.
    assert focused(page)["id"] == "step-heading"
    type_into(page, "#guest-email", "kb@example.com")
    type_into(page, "#guest-first", "Key")
    type_into(page, "#guest-last", "Board")
    page.keyboard.press("Enter")

    step(page, "shipping_address")
    type_into(page, "#shipping-street1", US_ADDRESS["street1"])
    type_into(page, "#shipping-city", US_ADDRESS["city"])
    tab_to(page, "#shipping-state-select")
    page.keyboard.type("New York")
    type_into(page, "#shipping-zip_code", "10001")
    page.keyboard.press("Enter")

    step(page, "shipping_method")
    tab_to(page, "input[name=shipping_method_id]")
    page.keyboard.press("ArrowDown")  # the second option
    chosen = page.locator("label.choice:has(input[name=shipping_method_id]:checked) strong")
    chosen_name = (chosen.text_content() or "").split(" — ")[0]
    assert chosen_name
    tab_to(page, "#step button[type=submit]")
    page.keyboard.press("Enter")

    step(page, "payment_method")
    tab_to(page, "input[name=test_card]")
    page.keyboard.press("Enter")
    panel = step(page, "order_review")
    expect(panel.locator("[data-review='shipping_address']")).to_contain_text("NY 10001")
    expect(panel.locator("[data-review='shipping_method']")).to_contain_text(chosen_name)
    tab_to(page, "button[data-event=CONFIRM_ORDER]")
    shots(page, "keyboard-review")


def test_checkout_at_360_px(mobile_page: Any, live: LiveServer, shots: Any) -> None:
    page = mobile_page
    start_checkout(page, ("Stoneware Mug", 1))
    no_horizontal_scroll(page)
    step(page, "user_identification").get_by_role("button", name="Check out as a guest").click()
    fill_guest(page, "phone@example.com")
    panel = step(page, "shipping_address")
    fill_address(page, US_ADDRESS)
    no_horizontal_scroll(page)
    shots(page, "address-mobile")
    panel.get_by_role("button", name="Continue").click()
    step(page, "shipping_method").get_by_role("button", name="Continue").click()
    step(page, "payment_method").get_by_role("button", name="Continue to review").click()
    step(page, "order_review")
    no_horizontal_scroll(page)
    assert_accessible(page, context="review at 360 px")
    shots(page, "review-mobile")
