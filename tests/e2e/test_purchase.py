"""Whole purchases in the browser with the sandbox gateway: paid, declined then
retried, and through a 3-D Secure challenge; then the order page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import (
    US_ADDRESS,
    fill_address,
    guest_to_payment,
    no_horizontal_scroll,
    open_page,
    pay_with,
    start_checkout,
    step,
    tab_to,
)


def confirmation(page: Any) -> Any:
    panel = step(page, "order_confirmation")
    expect(panel.locator("[data-confirmation]")).to_contain_text(
        re.compile(r"Order TP-[0-9A-Z-]+ ")
    )
    return panel


def test_guest_purchase_with_the_sandbox_gateway(page: Any, live: LiveServer, shots: Any) -> None:
    guest_to_payment(page, ("Assam Breakfast Tea, 250 g", 2), email="buyer@example.com")
    shots(page, "payment")
    pay_with(page, "4242")
    panel = confirmation(page)
    expect(panel).to_contain_text("buyer@example.com")
    expect(page.locator("[data-cart-count]").first).to_have_text("")
    assert_accessible(page, context="confirmation")
    shots(page, "confirmation")

    # Reload: still the confirmation (the state is the server's).
    page.reload()
    confirmation(page)

    panel.get_by_role("link", name="View your order").click()
    page.wait_for_url("**/orders/*")
    order = page.locator("#order")
    expect(order).to_contain_text("2 \u00d7 Assam Breakfast Tea, 250 g")
    expect(order.locator(".order-details")).to_contain_text("VISA ending 4242")
    expect(order.locator(".grand")).to_contain_text("$")
    assert_accessible(page, context="order page")
    shots(page, "order")


def test_declined_card_then_a_successful_retry(page: Any, live: LiveServer, shots: Any) -> None:
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    pay_with(page, "0002")
    panel = step(page, "payment_failed")
    expect(page.get_by_role("heading", name="Payment failed")).to_be_focused()
    expect(panel.locator("[data-failure-reason]")).to_contain_text("declined")
    assert_accessible(page, context="payment failed")
    shots(page, "declined")
    panel.get_by_role("button", name="Try again").click()
    pay_with(page, "4242")
    confirmation(page)
    shots(page, "paid-after-retry")


def test_three_d_secure_challenge(page: Any, live: LiveServer, shots: Any) -> None:
    guest_to_payment(page, ("Merino Wool Socks", 1))
    pay_with(page, "3155")
    panel = step(page, "payment_requires_action")
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_focused()
    shots(page, "challenge")
    panel.get_by_role("button", name="Complete authentication").click()
    confirmation(page)


def test_failed_three_d_secure_lets_the_customer_pay_another_way(
    page: Any, live: LiveServer
) -> None:
    guest_to_payment(page, ("Merino Wool Socks", 1))
    pay_with(page, "3155")
    step(page, "payment_requires_action").get_by_role("button", name="Fail authentication").click()
    panel = step(page, "payment_failed")
    panel.get_by_role("button", name="Use another card").click()
    pay_with(page, "4242")
    confirmation(page)


def test_registered_purchase(page: Any, live: LiveServer, shots: Any) -> None:
    start_checkout(page, ("Cedar & Smoke Candle", 1))
    step(page, "user_identification").get_by_role(
        "button", name="Sign in or create an account"
    ).click()
    panel = step(page, "auth_redirect")
    panel.get_by_label("Email").fill("linus@example.com")
    panel.get_by_label("Password").fill("a long and honest passphrase 7")
    panel.get_by_role("button", name="Create account").click()
    panel = step(page, "shipping_address")
    fill_address(page, {"first_name": "Linus", "last_name": "Pauling", **US_ADDRESS})
    panel.get_by_role("button", name="Continue").click()
    step(page, "shipping_method").get_by_role("button", name="Continue").click()
    pay_with(page, "4242")
    panel = confirmation(page)
    expect(panel).to_contain_text("linus@example.com")
    panel.get_by_role("link", name="View your order").click()
    page.wait_for_url("**/orders/*")
    expect(page.locator("#order")).to_contain_text("1 \u00d7 Cedar & Smoke Candle")
    shots(page, "registered-order")


def test_whole_purchase_by_keyboard_only(page: Any, live: LiveServer, shots: Any) -> None:
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
    step(page, "user_identification")
    tab_to(page, "button[data-event=SELECT_GUEST]")
    page.keyboard.press("Enter")
    step(page, "guest_info")
    for selector, text in (
        ("#guest-email", "keys@example.com"),
        ("#guest-first", "Key"),
        ("#guest-last", "Board"),
    ):
        tab_to(page, selector)
        page.keyboard.type(text)
    page.keyboard.press("Enter")
    step(page, "shipping_address")
    for selector, text in (
        ("#shipping-street1", "5 Main Street"),
        ("#shipping-city", "Springfield"),
        ("#shipping-state-select", "Illinois"),
        ("#shipping-zip_code", "62701"),
    ):
        tab_to(page, selector)
        page.keyboard.type(text)
    page.keyboard.press("Enter")
    step(page, "shipping_method")
    tab_to(page, "input[name=shipping_method_id]")
    page.keyboard.press("Enter")
    step(page, "payment_method")
    tab_to(page, "input[name=test_card]")
    page.keyboard.press("Enter")
    step(page, "order_review")
    tab_to(page, "button[data-event=CONFIRM_ORDER]")
    page.keyboard.press("Enter")
    confirmation(page)
    tab_to(page, "a[data-order-link]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/orders/*")
    expect(page.locator("#order")).to_contain_text("1 \u00d7 Canvas Tote Bag")
    shots(page, "keyboard-order")


def test_purchase_on_a_360_px_phone(mobile_page: Any, live: LiveServer, shots: Any) -> None:
    page = mobile_page
    guest_to_payment(page, ("Stoneware Mug", 1), email="phone@example.com")
    no_horizontal_scroll(page)
    pay_with(page, "4242")
    confirmation(page)
    no_horizontal_scroll(page)
    assert_accessible(page, context="confirmation at 360 px")
    shots(page, "confirmation-mobile")
