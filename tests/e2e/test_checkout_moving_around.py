"""Issue 20, items 2 and 3, at 1280 px and at 360 px: moving back and forth between the
checkout's screens (progress links, "Return to …", the browser's Back, "Change" on the
review), and what the page says and shows on the way (inline checks in plain words,
an e-mail domain typo, "Processing…", one line per coupon, the summary bar on a phone)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, MOBILE, LiveServer, assert_accessible
from tests.e2e.shopper import (
    US_ADDRESS,
    add_to_cart,
    fill_contact,
    guest_to_payment,
    no_horizontal_scroll,
    open_page,
    product_card,
    screen,
    start_checkout,
    to_delivery,
)
from tests.e2e.test_coupons import create_coupon

WIDTHS = ["1280", "360"]


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def shopper(request: pytest.FixtureRequest, live: LiveServer) -> Any:
    """A page at 1280 px (``page``) or at 360 px (``mobile_page``)."""
    return request.getfixturevalue("page" if request.param == "1280" else "mobile_page")


def _to_review(page: Any) -> Any:
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    return screen(page, "review")


def _on_checkout(page: Any) -> None:
    assert "/checkout?id=" in page.url, page.url


def test_back_return_links_and_progress_links_move_one_screen_back(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    page = shopper
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    review = _to_review(page)
    steps = page.locator("#steps")
    # On the review the finished steps are links back to them.
    expect(steps.get_by_role("link", name="Contact and address")).to_be_visible()
    expect(steps.get_by_role("link", name="Delivery and payment")).to_be_visible()
    expect(steps.get_by_role("link", name="Review")).to_have_count(0)
    assert_accessible(page, context="review with progress links")
    shots(page, "review-progress-links")

    # The browser's Back: one screen back, inside the checkout, delivery choosable again.
    page.go_back()
    delivery = screen(page, "delivery")
    _on_checkout(page)
    expect(delivery.get_by_role("radio", name=re.compile("Ground"))).to_be_checked()
    delivery.get_by_role("radio", name=re.compile("2-Day")).check()
    review = _to_review(page)
    expect(review.locator("[data-review='shipping_method']")).to_contain_text("2-Day")

    # "Return to delivery and payment" from the review.
    review.get_by_role("button", name="Return to delivery and payment").click()
    screen(page, "delivery")
    _on_checkout(page)
    review = _to_review(page)

    # The progress bar's first step: back to contact and address, filled in.
    steps.get_by_role("link", name="Contact and address").click()
    contact = screen(page, "contact")
    expect(contact.get_by_label("Street address")).to_have_value("1 Infinite Loop")
    expect(contact.get_by_role("link", name="Return to cart")).to_be_visible()
    assert_accessible(page, context="contact again")
    shots(page, "back-to-contact")
    contact.get_by_label("City").fill("San Jose")
    contact.get_by_role("button", name="Continue to delivery").click()
    review = _to_review(page)
    expect(review.locator("[data-review='shipping_address']")).to_contain_text("San Jose")
    no_horizontal_scroll(page)


def test_change_contact_and_delivery_from_the_review(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    page = shopper
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    review = _to_review(page)
    expect(review.get_by_role("button", name="Change contact")).to_be_visible()
    review.get_by_role("button", name="Change delivery").click()
    delivery = screen(page, "delivery")
    delivery.get_by_role("radio", name=re.compile("Next Day")).check()
    review = _to_review(page)
    expect(review.locator("[data-review='shipping_method']")).to_contain_text("Next Day")

    # A guest's contact reopens with the e-mail editable; the address stays filled in.
    review.get_by_role("button", name="Change contact").click()
    contact = screen(page, "contact")
    expect(contact.get_by_label("Email", exact=True)).to_have_value("ada@example.com")
    expect(contact.get_by_label("Street address")).to_have_value("1 Infinite Loop")
    contact.get_by_label("Email", exact=True).fill("ada@example.org")
    contact.get_by_label("First name").fill("Augusta")
    contact.get_by_role("button", name="Continue to delivery").click()
    review = _to_review(page)
    expect(review.locator("[data-review='contact']")).to_contain_text("ada@example.org")
    expect(review.locator("[data-review='shipping_address']")).to_contain_text("Augusta")
    shots(page, "changed-from-review")


def test_back_from_delivery_returns_to_the_address(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    """Back from delivery and payment: the address screen, filled in, inside the checkout;
    the saved e-mail there has its own Change."""
    page = shopper
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    page.go_back()
    contact = screen(page, "contact")
    _on_checkout(page)
    expect(contact.get_by_label("Street address")).to_have_value("1 Infinite Loop")
    known = contact.locator("[data-contact-known]")
    expect(known).to_contain_text("ada@example.com")
    assert_accessible(page, context="back to the address from delivery")
    shots(page, "back-from-delivery")
    known.get_by_role("button", name="Change e-mail").click()
    contact = screen(page, "contact")
    expect(contact.get_by_label("Email", exact=True)).to_have_value("ada@example.com")
    contact.get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery")
    _on_checkout(page)


def test_inline_checks_in_plain_words_and_an_email_typo(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    page = shopper
    start_checkout(page, ("Canvas Tote Bag", 1))
    contact = screen(page, "contact")
    page.wait_for_selector("#shipping-street1")
    email = contact.get_by_label("Email", exact=True)
    email.fill("ada@exmaple.con")
    email.blur()
    offer = contact.get_by_role("button", name="Did you mean example.com?")
    expect(offer).to_be_visible()
    for typo, meant in (
        ("bob@gmial.com", "gmail.com"),
        ("bob@hotmial.com", "hotmail.com"),
        ("bob@yaho.com", "yahoo.com"),
        ("bob@gmail.cmo", "gmail.com"),
    ):
        email.fill(typo)
        email.blur()
        expect(contact.get_by_role("button", name=f"Did you mean {meant}?")).to_be_visible()
    email.fill("ada@exmaple.con")
    email.blur()
    assert_accessible(page, context="e-mail typo offered")
    shots(page, "email-typo")
    offer.click()
    expect(email).to_have_value("ada@example.com")
    expect(offer).to_have_count(0)

    # Leaving a field wrong says so in words, at once.
    phone = contact.get_by_label("Phone (optional)")
    phone.fill("12")
    phone.blur()
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(contact.locator("#shipping-phone-error")).to_have_text(
        "Enter a phone number with at least 7 digits, or leave it empty."
    )
    phone.fill("")
    city = contact.get_by_label("City")
    city.fill("x")
    city.fill("")
    city.blur()
    expect(contact.locator("#shipping-city-error")).to_have_text("Enter your city.")

    # Continue with fields missing: each says what to do; nothing was sent.
    contact.get_by_role("button", name="Continue to delivery").click()
    expect(contact.locator("#shipping-first_name-error")).to_have_text("Enter your first name.")
    expect(contact.get_by_label("First name")).to_be_focused()
    expect(contact.locator("#shipping-state-error")).to_have_text("Choose a state.")
    assert_accessible(page, context="inline errors")
    shots(page, "inline-errors")

    # What only the server can say comes in the shopper's words too, not a validator's.
    contact.get_by_label("First name").fill("Ada")
    contact.get_by_label("Last name").fill("Lovelace")
    contact.get_by_label("Street address").fill("1 Infinite Loop")
    city.fill("C" * 120)
    contact.get_by_label("State").select_option(label="California")
    contact.get_by_label(re.compile("^ZIP code")).fill("95014")
    contact.get_by_role("button", name="Continue to delivery").click()
    expect(contact.locator("#shipping-city-error")).to_have_text("That city is too long.")
    expect(page.locator("#step")).not_to_contain_text("String should")
    no_horizontal_scroll(page)


def test_place_order_says_processing_while_it_works(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    page = shopper
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    review = _to_review(page)
    held: list[Any] = []

    def hold_confirm(route: Any) -> None:
        if b"CONFIRM_ORDER" in (route.request.post_data_buffer or b""):
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/checkout/*/events", hold_confirm)
    button = review.get_by_role("button", name=re.compile("Place order and pay|Processing"))
    button.click()
    expect(button).to_have_text("Processing…")
    expect(button).to_be_disabled()
    shots(page, "processing")
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/api/checkout/*/events")
    expect(page.locator("#step[data-state='order_confirmation']")).to_be_visible()


def test_a_decline_says_the_shopper_was_not_charged(shopper: Any, live: LiveServer) -> None:
    page = shopper
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    delivery = screen(page, "delivery")
    delivery.get_by_label(re.compile("Visa 0002")).check()
    _to_review(page).get_by_role("button", name=re.compile("Place order and pay")).click()
    failed = page.locator("#step[data-state='payment_failed']")
    expect(failed).to_contain_text("declined")
    expect(failed).to_contain_text("You have not been charged.")
    assert_accessible(page, context="declined")


def test_one_discount_line_per_coupon_on_the_review(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    page = shopper
    create_coupon(live, "WELCOME10")
    open_page(page, "/")
    add_to_cart(page, "Canvas Tote Bag", 1)
    open_page(page, "/cart")
    page.get_by_label("Coupon code").fill("WELCOME10")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#applied-coupons")).to_contain_text("WELCOME10")
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url("**/checkout?id=*")
    to_delivery(page)
    review = _to_review(page)
    terms = review.locator("[data-review='totals'] dt")
    expect(terms).to_contain_text(["Subtotal", "Coupon WELCOME10"])
    texts = terms.all_text_contents()
    assert texts.count("Coupon WELCOME10") == 1, texts
    assert "Discount" not in texts, texts
    row = review.locator("[data-review='totals'] div").filter(has_text="Coupon WELCOME10")
    expect(row.locator("dd")).to_have_text("\u2212$1.50")
    shots(page, "coupon-on-review")


def test_order_summary_is_a_bar_with_the_total_on_a_phone(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    page = shopper
    start_checkout(page, ("Canvas Tote Bag", 2))
    screen(page, "contact")
    toggle = page.locator("#summary-toggle")
    lines = page.locator("#summary-lines")
    if page.viewport_size["width"] >= 1024:
        expect(lines).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        return
    # At the top, above the steps, collapsed, with the total.
    expect(toggle).to_have_text(re.compile(r"Show order summary\s*\$30\.00"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(lines).to_be_hidden()
    top_of = "(s) => document.querySelector(s).getBoundingClientRect().top"
    top = page.evaluate(top_of, "#summary-toggle")
    steps = page.evaluate(top_of, "#steps")
    assert top < steps
    assert_accessible(page, context="summary collapsed")
    shots(page, "summary-collapsed")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(lines).to_contain_text("2 \u00d7 Canvas Tote Bag")
    shots(page, "summary-open")
    no_horizontal_scroll(page)


def test_a_zip_code_of_another_state_says_which_state(
    shopper: Any, live: LiveServer, shots: Any
) -> None:
    page = shopper
    start_checkout(page, ("Canvas Tote Bag", 1))
    contact = fill_contact(page, address={**US_ADDRESS, "zip_code": "10118"})
    contact.get_by_role("button", name="Continue to delivery").click()
    error = contact.locator("[data-error-for='address.zip_code']")
    expect(error).to_contain_text("belongs to New York (NY), not CA")
    assert_accessible(page, context="a ZIP code of another state")
    shots(page, "zip-of-another-state")
    contact.get_by_label("ZIP code").fill("95014")
    contact.get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery")


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["1280px", "360px"])
def test_prices_read_in_the_shoppers_locale(
    browser: Any, live: LiveServer, viewport: dict[str, int]
) -> None:
    """A German browser: Babel picks de_DE on the server, the scripts use it too."""
    context = browser.new_context(base_url=live.url, viewport=viewport, locale="de-DE")
    try:
        page = context.new_page()
        open_page(page, "/")
        expect(page.locator("html")).to_have_attribute("data-money-locale", "de-DE")
        expect(product_card(page, "Canvas Tote Bag").locator(".price")).to_have_text(
            "15,00\u00a0$"
        )  # drawn by the server (Babel)
        add_to_cart(page, "Canvas Tote Bag", 2)
        open_page(page, "/cart")
        expect(page.locator("[data-total='subtotal']")).to_have_text("30,00\u00a0$")  # by Intl
        no_horizontal_scroll(page)
    finally:
        context.close()
