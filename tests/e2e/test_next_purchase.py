"""One browser, several orders: after each order the badge is empty, the cart page says
the cart is empty and the next checkout starts afresh — as a guest and signed in. And a
cart whose payment is in flight in one tab tells the shopper so, in words, in another."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
from tests.e2e.shopper import (
    add_to_cart,
    fill_contact,
    open_page,
    pay_with,
    screen,
    step,
)

PRODUCTS = ("Canvas Tote Bag", "Merino Wool Socks", "Cedar & Smoke Candle")
PASSPHRASE = "a long and honest passphrase 7"


def _to_checkout(page: Any, product: str) -> str:
    """From the catalog: one product into the cart, then Checkout from the cart page;
    returns the new checkout's id."""
    open_page(page, "/")
    add_to_cart(page, product)
    open_page(page, "/cart")
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url("**/checkout?id=*")
    page.wait_for_selector("html[data-ready='true']")
    return str(page.evaluate("() => new URL(location.href).searchParams.get('id')"))


def _identify(page: Any, registered: bool, first: bool) -> None:
    """The first screen: a guest's e-mail, or an account (made in the first checkout,
    then signed in), then the address; continue to delivery and payment."""
    panel = screen(page, "contact")
    email: str | None = "again@example.com"
    if registered and first:
        panel.get_by_role("button", name="Have an account? Sign in").click()
        panel = step(page, "auth_redirect")
        panel.get_by_label("Email").fill("again@example.com")
        panel.get_by_label("Password").fill(PASSPHRASE)
        panel.get_by_role("button", name="Create account").click()
        panel = step(page, "shipping_address")
    if registered:
        expect(panel.locator("[data-contact-known]")).to_contain_text("Signed in as")
        email = None
    fill_contact(page, email).get_by_role("button", name="Continue to delivery").click()
    screen(page, "delivery")


def _buy(page: Any, product: str, *, registered: bool, first: bool) -> str:
    checkout_id = _to_checkout(page, product)
    _identify(page, registered, first)
    pay_with(page, "4242")
    panel = step(page, "order_confirmation")
    expect(panel.locator("[data-confirmation]")).to_contain_text(re.compile(r"Order TP-"))
    expect(page.locator("#summary-lines")).to_contain_text(f"1 \u00d7 {product}")
    expect(page.locator("[data-cart-count]").first).to_have_text("")
    return checkout_id


def _cart_is_empty(page: Any) -> None:
    open_page(page, "/cart")
    expect(page.locator("[data-cart-empty]")).to_be_visible()
    expect(page.locator("[data-cart-count]").first).to_have_text("")


@pytest.mark.parametrize("registered", [False, True], ids=["guest", "registered"])
def test_three_purchases_in_a_row_in_one_browser(
    page: Any, live: LiveServer, registered: bool
) -> None:
    checkouts = []
    for i, product in enumerate(PRODUCTS):
        checkouts.append(_buy(page, product, registered=registered, first=i == 0))
        _cart_is_empty(page)
    assert len(set(checkouts)) == 3
    page.reload()  # the last checkout's page, reloaded after its order
    open_page(page, f"/checkout?id={checkouts[-1]}")
    step(page, "order_confirmation")
    expect(page.locator("#summary-lines")).to_contain_text(f"1 \u00d7 {PRODUCTS[-1]}")
    expect(page.locator("[data-cart-count]").first).to_have_text("")


def test_a_cart_being_paid_for_in_another_tab_says_so(
    page: Any, new_page: Any, live: LiveServer
) -> None:
    _to_checkout(page, PRODUCTS[0])
    _identify(page, registered=False, first=True)
    pay_with(page, "3155")  # the bank's challenge: the payment waits on the shopper
    challenge = step(page, "payment_requires_action")

    other = new_page(page.context)  # the same shopper's second tab
    open_page(other, "/cart")
    quantity = other.get_by_label(f"Quantity of {PRODUCTS[0]}")
    quantity.fill("3")
    quantity.press("Enter")
    alert = other.locator("#page-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("paying for these items in another window")
    expect(alert).not_to_contain_text("cart_locked")
    expect(quantity).to_have_value("1")  # the cart as it is, not as typed

    challenge.get_by_role("button", name="Complete authentication").click()
    step(page, "order_confirmation")
    _cart_is_empty(other)
