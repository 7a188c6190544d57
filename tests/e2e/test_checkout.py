"""The checkout page in a real browser: three screens (contact and address; delivery
and payment; review) over the server's state machine, whose events the page sends in
order."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible, report_measurement
from tests.e2e.shopper import (
    US_ADDRESS,
    add_to_cart,
    fill_address,
    fill_contact,
    no_horizontal_scroll,
    open_page,
    screen,
    start_checkout,
    step,
    to_delivery,
)

CHECKOUT_EVENTS = re.compile(r"^/api/checkout/[^/]+/events$")


def _events_sent(live: LiveServer, since: int) -> list[str]:
    """The event types the page posted since ``since`` (recorded requests), in order."""
    found = []
    for r in live.received[since:]:
        if r.method == "POST" and CHECKOUT_EVENTS.match(r.path):
            match = re.search(rb'"type":\s*"([A-Z_]+)"', r.body)
            assert match is not None
            found.append(match.group(1).decode())
    return found


def test_guest_reaches_review_in_three_screens_with_an_address_error_corrected(
    page: Any, live: LiveServer, shots: Any
) -> None:
    start_checkout(page, ("Sencha Green Tea, 100 g", 2), ("Canvas Tote Bag", 1))
    panel = screen(page, "contact")
    # Guest by default, with the e-mail field; signing in is one click away.
    expect(panel.get_by_label("Email", exact=True)).to_be_visible()
    expect(panel.get_by_role("button", name="Have an account? Sign in")).to_be_visible()
    expect(page.locator("#steps li")).to_have_text(
        ["Contact and address", "Delivery and payment", "Review", "Confirmation"]
    )
    assert_accessible(page, context="checkout: contact and address")
    shots(page, "contact")

    before = len(live.received)
    fill_contact(page, address={**US_ADDRESS, "zip_code": "9501"})
    panel.get_by_role("button", name="Continue to delivery").click()
    zip_input = panel.get_by_label(re.compile("^ZIP code"))
    expect(zip_input).to_have_attribute("aria-invalid", "true")
    expect(zip_input).to_be_focused()
    expect(panel.locator("[data-error-for='address.zip_code']")).not_to_be_empty()
    # The contact was saved on the way: it stays, as text, and the typed address too.
    step(page, "shipping_address")
    expect(panel.locator("[data-contact-known]")).to_contain_text("ada@example.com")
    expect(panel.get_by_label("Street address")).to_have_value("1 Infinite Loop")
    assert_accessible(page, context="checkout: address error")
    shots(page, "address-error")

    zip_input.fill("95014")
    panel.get_by_role("button", name="Continue to delivery").click()
    panel = screen(page, "delivery")
    expect(page.get_by_role("heading", name="Delivery and payment")).to_be_focused()
    expect(panel.get_by_role("radio").first).to_be_checked()
    expect(panel.locator("[data-review='shipping_address']")).to_contain_text("Cupertino")
    assert_accessible(page, context="checkout: delivery and payment")
    shots(page, "delivery-and-payment")
    panel.get_by_label(re.compile("Visa 4242")).check()
    panel.get_by_role("button", name="Continue to review").click()

    panel = screen(page, "review")
    assert _events_sent(live, before) == [
        "SELECT_GUEST",
        "SUBMIT_GUEST_INFO",
        "USE_BILLING_AS_SHIPPING",  # refused (the ZIP), then sent again
        "USE_BILLING_AS_SHIPPING",
        "SELECT_SHIPPING",
        "SELECT_PAYMENT",
    ]
    expect(panel.locator("[data-review='shipping_address']")).to_contain_text("1 Infinite Loop")
    expect(panel.locator("[data-review='billing_address']")).to_have_text(
        "Same as shipping address"
    )
    expect(panel.locator("[data-review='contact']")).to_contain_text("Ada Lovelace")
    expect(panel.locator("[data-review='payment_method']")).to_contain_text("4242")
    totals = panel.locator("[data-review='totals']")
    expect(totals).to_contain_text("Subtotal$40.00")
    expect(totals).to_contain_text("Shipping")
    expect(totals).to_contain_text("Total")
    assert_accessible(page, context="checkout: review")
    shots(page, "review")

    # The state lives on the server: a reload keeps it.
    page.reload()
    screen(page, "review")
    expect(page.locator("[data-review='shipping_address']")).to_contain_text("Cupertino")


def test_new_customer_registers_inside_the_checkout(
    page: Any, live: LiveServer, shots: Any
) -> None:
    start_checkout(page, ("The Home Brewer's Handbook", 1))
    panel = screen(page, "contact")
    panel.get_by_label("Email", exact=True).fill("grace@example.com")
    panel.get_by_role("button", name="Have an account? Sign in").click()
    panel = step(page, "auth_redirect")
    # What the guest had typed comes along; the hint states the rule the server applies.
    expect(panel.get_by_label("Email")).to_have_value("grace@example.com")
    expect(panel.locator("#auth-password-hint")).to_have_text(
        "New accounts need a password of at least 10 characters that is not a common one "
        "and not your email."
    )
    panel.get_by_label("Password").fill("short")
    panel.get_by_role("button", name="Create account").click()
    # The API refuses the weak password next to its field.
    expect(panel.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_label("Password")).to_be_focused()
    expect(panel.locator("#auth-password-error")).to_have_text("Use at least 10 characters.")
    assert_accessible(page, context="checkout: sign in")
    shots(page, "weak-password")

    panel.get_by_label("Password").fill("correct horse battery staple 42")
    panel.get_by_role("button", name="Create account").click()
    panel = step(page, "shipping_address")
    expect(panel.locator("[data-contact-known]")).to_contain_text("Signed in as grace@example.com")
    # The cart came along into the account.
    expect(page.locator("#summary-lines")).to_contain_text("1 \u00d7 The Home Brewer's Handbook")
    fill_contact(page, None, name=("Grace", "Hopper"))
    panel.get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    panel = screen(page, "review")
    expect(panel.locator("[data-review='contact']")).to_contain_text("grace@example.com")
    shots(page, "review-registered")


def test_a_password_of_ten_characters_passes_as_the_hint_says(tab: Any) -> None:
    """At 1280 and 360 px: the hint states the rule, 9 characters are refused, 10 pass."""
    start_checkout(tab, ("Canvas Tote Bag", 1))
    screen(tab, "contact").get_by_role("button", name="Have an account? Sign in").click()
    panel = step(tab, "auth_redirect")
    expect(panel.locator("#auth-password-hint")).to_be_visible()
    expect(panel.locator("#auth-password-hint")).to_have_text(
        "New accounts need a password of at least 10 characters that is not a common one "
        "and not your email."
    )
    no_horizontal_scroll(tab)
    panel.get_by_label("Email").fill("ten@example.com")
    panel.get_by_label("Password").fill("nine char")  # 9: one short of the rule
    panel.get_by_role("button", name="Create account").click()
    expect(panel.locator("#auth-password-error")).to_have_text("Use at least 10 characters.")
    panel.get_by_label("Password").fill("ten chars!")  # exactly 10
    panel.get_by_role("button", name="Create account").click()
    step(tab, "shipping_address")


def test_billing_address_different_from_shipping_on_the_same_screen(
    page: Any, live: LiveServer, shots: Any
) -> None:
    start_checkout(page, ("Cedar & Smoke Candle", 1))
    panel = fill_contact(page)
    panel.get_by_label("My billing address is the same").uncheck()
    billing = panel.locator("[data-billing-slot]")
    expect(billing.get_by_role("group", name="Billing address")).to_be_visible()
    # A UK address: no state, a post town, a postcode.
    billing.get_by_label("Country").select_option(label="United Kingdom")
    expect(billing.get_by_label("Town or city")).to_be_visible()
    expect(billing.locator("[data-field='state']:visible")).to_have_count(0)
    billing.get_by_label("Street address").fill("10 Downing Street")
    billing.get_by_label("Town or city").fill("London")
    billing.get_by_label(re.compile("^Postal code")).fill("SW1A 2AA")
    assert_accessible(page, context="checkout: separate billing address")
    shots(page, "billing-address")
    panel.get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    panel = screen(page, "review")
    expect(panel.locator("[data-review='billing_address']")).to_contain_text("SW1A 2AA")

    # Edit shipping from the review: the address screen again, filled in.
    panel.get_by_role("button", name="Change shipping address").click()
    panel = screen(page, "contact")
    expect(panel.get_by_label("Street address").first).to_have_value("1 Infinite Loop")
    fill_address(page, {"street1": "2 Infinite Loop"})
    panel.get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    panel = screen(page, "review")
    expect(panel.locator("[data-review='shipping_address']")).to_contain_text("2 Infinite Loop")
    expect(panel.locator("[data-review='billing_address']")).to_contain_text("SW1A 2AA")

    # Change billing: the same screen, the shipping address as text, the billing form.
    panel.get_by_role("button", name="Change billing address").click()
    panel = screen(page, "contact")
    expect(panel.locator("[data-ship-known]")).to_contain_text("2 Infinite Loop")
    expect(panel.get_by_label("Street address")).to_have_value("10 Downing Street")
    panel.get_by_label("My billing address is the same").check()
    panel.get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    panel = screen(page, "review")
    expect(panel.locator("[data-review='billing_address']")).to_have_text(
        "Same as shipping address"
    )


def test_cart_to_place_order_in_three_screens_and_its_requests(
    page: Any, live: LiveServer, shots: Any
) -> None:
    """Counts what issue 20 asks to report: screens and API requests from the cart's
    Checkout button to the placed order."""
    open_page(page, "/")
    add_to_cart(page, "Canvas Tote Bag", 1)
    open_page(page, "/cart")
    before = len(live.recorder.timeline)
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url("**/checkout?id=*")
    seen = [screen(page, "contact").get_attribute("data-screen")]
    to_delivery(page)
    seen.append("delivery")
    review = _to_review_screen(page)
    seen.append("review")
    review.get_by_role("button", name=re.compile("Place order and pay")).click()
    expect(step(page, "order_confirmation").locator("[data-confirmation]")).to_contain_text(
        "Order TP-"
    )
    shots(page, "confirmation")
    sent = [
        t
        for t in live.recorder.timeline[before:]
        if t.path.startswith("/api/") and t.path != "/api/inventory/stream"
    ]
    events = [t for t in sent if CHECKOUT_EVENTS.match(t.path)]
    under_checkout = [t for t in sent if t.path.startswith("/api/checkout")]
    assert seen == ["contact", "delivery", "review"]
    assert len(events) == 6  # SELECT_GUEST ... CONFIRM_ORDER, the machine's events
    report_measurement(
        f"cart -> order [{live.backend}]: {len(seen)} screens before the confirmation; "
        f"{len(sent)} API requests ({len(under_checkout)} under /api/checkout, "
        f"{len(events)} events): " + ", ".join(f"{t.method} {t.path}" for t in sent)
    )


def _to_review_screen(page: Any) -> Any:
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    return screen(page, "review")
