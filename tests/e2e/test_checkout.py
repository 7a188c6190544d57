"""The checkout page in a real browser, walking the server's state machine."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import (
    US_ADDRESS,
    fill_address,
    fill_guest,
    start_checkout,
    step,
)


def test_guest_reaches_review_with_an_address_error_corrected(
    page: Any, live: LiveServer, shots: Any
) -> None:
    start_checkout(page, ("Sencha Green Tea, 100 g", 2), ("Canvas Tote Bag", 1))
    panel = step(page, "user_identification")
    assert_accessible(page, context="checkout: identification")
    shots(page, "identification")
    panel.get_by_role("button", name="Check out as a guest").click()
    fill_guest(page)

    panel = step(page, "shipping_address")
    expect(page.get_by_role("heading", name="Shipping address")).to_be_focused()
    expect(panel.get_by_label("First name")).to_have_value("Ada")
    fill_address(page, {**US_ADDRESS, "zip_code": "9501"})
    panel.get_by_role("button", name="Continue").click()
    zip_input = panel.get_by_label(re.compile("^ZIP code"))
    expect(zip_input).to_have_attribute("aria-invalid", "true")
    expect(zip_input).to_be_focused()
    expect(panel.locator("[data-error-for='address.zip_code']")).not_to_be_empty()
    assert_accessible(page, context="checkout: address error")
    shots(page, "address-error")

    zip_input.fill("95014")
    panel.get_by_role("button", name="Continue").click()
    panel = step(page, "shipping_method")
    options = panel.get_by_role("radio")
    expect(options.first).to_be_checked()
    shots(page, "shipping-options")
    panel.get_by_role("button", name="Continue").click()

    panel = step(page, "payment_method")
    panel.get_by_label(re.compile("Visa 4242")).check()
    panel.get_by_role("button", name="Continue to review").click()

    panel = step(page, "order_review")
    expect(panel.locator("[data-review='shipping_address']")).to_contain_text("1 Infinite Loop")
    expect(panel.locator("[data-review='billing_address']")).to_have_text(
        "Same as shipping address"
    )
    expect(panel.locator("[data-review='payment_method']")).to_contain_text("4242")
    totals = panel.locator("[data-review='totals']")
    expect(totals).to_contain_text("Subtotal$40.00")
    expect(totals).to_contain_text("Shipping")
    expect(totals).to_contain_text("Total")
    assert_accessible(page, context="checkout: review")
    shots(page, "review")

    # The state lives on the server: a reload and a trip back to the cart keep it.
    page.reload()
    step(page, "order_review")
    page.go_back()
    page.wait_for_url("**/cart")
    page.go_forward()
    step(page, "order_review")
    expect(page.locator("[data-review='shipping_address']")).to_contain_text("Cupertino")


def test_new_customer_registers_inside_the_checkout(
    page: Any, live: LiveServer, shots: Any
) -> None:
    start_checkout(page, ("The Home Brewer's Handbook", 1))
    step(page, "user_identification").get_by_role(
        "button", name="Sign in or create an account"
    ).click()
    panel = step(page, "auth_redirect")
    panel.get_by_label("Email").fill("grace@example.com")
    panel.get_by_label("Password").fill("short")
    panel.get_by_role("button", name="Create account").click()
    # The API refuses the weak password next to its field.
    expect(panel.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_label("Password")).to_be_focused()
    shots(page, "weak-password")

    panel.get_by_label("Password").fill("correct horse battery staple 42")
    panel.get_by_role("button", name="Create account").click()
    panel = step(page, "shipping_address")
    # The cart came along into the account.
    expect(page.locator("#summary-lines")).to_contain_text("1 \u00d7 The Home Brewer's Handbook")
    fill_address(
        page,
        {"first_name": "Grace", "last_name": "Hopper", **US_ADDRESS},
    )
    panel.get_by_role("button", name="Continue").click()
    step(page, "shipping_method").get_by_role("button", name="Continue").click()
    step(page, "payment_method").get_by_role("button", name="Continue to review").click()
    panel = step(page, "order_review")
    expect(panel.locator("[data-review='contact']")).to_contain_text("grace@example.com")
    shots(page, "review-registered")


def test_billing_address_different_from_shipping(page: Any, live: LiveServer) -> None:
    start_checkout(page, ("Cedar & Smoke Candle", 1))
    step(page, "user_identification").get_by_role("button", name="Check out as a guest").click()
    fill_guest(page)
    panel = step(page, "shipping_address")
    fill_address(page, US_ADDRESS)
    panel.get_by_label("My billing address is the same").uncheck()
    panel.get_by_role("button", name="Continue").click()

    panel = step(page, "billing_address")
    # A UK address: no state, a post town, a postcode.
    fill_address(
        page,
        {"street1": "10 Downing Street", "city": "London", "zip_code": "SW1A 2AA"},
        country="United Kingdom",
    )
    expect(panel.get_by_label("Town or city")).to_be_visible()
    expect(panel.get_by_label(re.compile("^Postal code"))).to_be_visible()
    expect(panel.locator("[data-field='state']:visible")).to_have_count(0)
    panel.get_by_role("button", name="Continue").click()
    step(page, "shipping_method").get_by_role("button", name="Continue").click()
    step(page, "payment_method").get_by_role("button", name="Continue to review").click()
    panel = step(page, "order_review")
    expect(panel.locator("[data-review='billing_address']")).to_contain_text("SW1A 2AA")

    # Edit shipping from the review and come back through the steps.
    panel.get_by_role("button", name="Change shipping address").click()
    panel = step(page, "shipping_address")
    expect(panel.get_by_label("Street address")).to_have_value("1 Infinite Loop")
