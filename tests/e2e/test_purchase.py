"""Whole purchases in the browser with the sandbox gateway: paid, declined then
retried, and through a 3-D Secure challenge; then the order page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import (
    fill_contact,
    guest_to_payment,
    no_horizontal_scroll,
    open_page,
    pay_with,
    screen,
    start_checkout,
    step,
    tab_to,
)
from tests.inventory_support import release
from tillpoint.catalog.models import Product
from tillpoint.checkout.context import CheckoutContext
from tillpoint.checkout.machine import Event
from tillpoint.checkout.models import Checkout
from tillpoint.checkout.service import apply_server_event
from tillpoint.checkout.stock_steps import reservation_of
from tillpoint.inventory.levels import adjust_stock
from tillpoint.runtime import Runtime


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
    expect(panel).to_contain_text("You have not been charged.")
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
    screen(page, "contact").get_by_role("button", name="Have an account? Sign in").click()
    panel = step(page, "auth_redirect")
    panel.get_by_label("Email").fill("linus@example.com")
    panel.get_by_label("Password").fill("a long and honest passphrase 7")
    panel.get_by_role("button", name="Create account").click()
    step(page, "shipping_address")
    fill_contact(page, None, name=("Linus", "Pauling"))
    page.get_by_role("button", name="Continue to delivery").click()
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
    screen(page, "contact")
    page.wait_for_selector("#shipping-street1")
    for selector, text in (
        ("#guest-email", "keys@example.com"),
        ("#shipping-first_name", "Key"),
        ("#shipping-last_name", "Board"),
        ("#shipping-street1", "5 Main Street"),
        ("#shipping-city", "Springfield"),
        ("#shipping-state-select", "Illinois"),
        ("#shipping-zip_code", "62701"),
    ):
        tab_to(page, selector)
        page.keyboard.type(text)
    page.keyboard.press("Enter")
    screen(page, "delivery")
    # The form can be sent once the delivery options are in (its button waits for them).
    page.wait_for_selector("input[name=shipping_method_id]")
    tab_to(page, "input[name=test_card]")
    page.keyboard.press("Enter")
    screen(page, "review")
    tab_to(page, "button[data-event=CONFIRM_ORDER]")
    page.keyboard.press("Enter")
    confirmation(page)
    tab_to(page, "a[data-order-link]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/orders/*")
    expect(page.locator("#order")).to_contain_text("1 \u00d7 Canvas Tote Bag")
    shots(page, "keyboard-order")


def test_the_order_link_is_offered_only_once_it_leads_to_the_order(tab: Any) -> None:
    """While the order's lookup is pending the confirmation offers no "View your order"
    (it pointed at the home page then, and a quick click went there), at 1280 and 360 px."""
    held: list[Any] = []
    tab.route("**/api/orders/by-checkout/*", lambda route: held.append(route))
    guest_to_payment(tab, ("Canvas Tote Bag", 1))
    pay_with(tab, "4242")
    panel = step(tab, "order_confirmation")
    expect(panel.locator("[data-confirmation]")).to_have_text(re.compile("^Your order is"))
    for _ in range(300):  # until the page's lookup reaches the route that holds it
        if held:
            break
        tab.wait_for_timeout(100)
    assert len(held) == 1
    expect(panel.get_by_role("link", name="View your order")).to_have_count(0)
    held[0].continue_()
    link = panel.get_by_role("link", name="View your order")
    expect(link).to_have_attribute("href", re.compile(r"^/orders/ord_\w+\?token="))
    link.click()
    tab.wait_for_url(re.compile(r"/orders/ord_"))
    expect(tab.locator("#order")).to_contain_text("1 \u00d7 Canvas Tote Bag")


def test_purchase_on_a_360_px_phone(mobile_page: Any, live: LiveServer, shots: Any) -> None:
    page = mobile_page
    guest_to_payment(page, ("Stoneware Mug", 1), email="phone@example.com")
    no_horizontal_scroll(page)
    pay_with(page, "4242")
    confirmation(page)
    no_horizontal_scroll(page)
    assert_accessible(page, context="confirmation at 360 px")
    shots(page, "confirmation-mobile")


def _the_hold_lapses_and_it_sells_out(checkout_id: str, product_name: str) -> Any:
    async def sell_out(rt: Runtime) -> None:
        async with rt.db.transaction() as s:
            row = await s.get(Checkout, checkout_id)
            assert row is not None
            held = reservation_of(CheckoutContext.load(row.context))
            product_id = await s.scalar(select(Product.id).where(Product.name == product_name))
        assert held is not None and product_id is not None
        await release(rt, held)
        await adjust_stock(rt, product_id, on_hand=0, reason="the last ones sold in the shop")

    return sell_out


def test_the_shopper_is_told_a_payment_was_refunded_when_the_items_sold_out_meanwhile(
    page: Any, live: LiveServer, shots: Any
) -> None:
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    pay_with(page, "3155")
    panel = step(page, "payment_requires_action")
    # While the shopper is with their bank, the hold lapses and the last bags are sold.
    checkout_id = parse_qs(urlparse(page.url).query)["id"][0]
    live.call(_the_hold_lapses_and_it_sells_out(checkout_id, "Canvas Tote Bag"))
    panel.get_by_role("button", name="Complete authentication").click()
    panel = step(page, "payment_refunded")
    expect(page.get_by_role("heading", name="Your payment was refunded")).to_be_focused()
    reason = panel.locator("[data-refund-reason]")
    expect(reason).to_contain_text("sold out while you were paying")
    expect(reason).to_contain_text("refunded in full")
    expect(panel.locator("[data-refund-amount]")).to_contain_text(re.compile(r"Refunded: \$\d"))
    expect(panel.get_by_role("link", name="Back to cart")).to_be_visible()
    assert_accessible(page, context="payment refunded")
    shots(page, "refunded")
    page.reload()  # the server's state: still refunded, still said
    expect(step(page, "payment_refunded").locator("[data-refund-reason]")).to_contain_text(
        "sold out"
    )


def test_a_page_reopened_on_a_paid_checkout_that_cannot_be_fulfilled_shows_the_refund(
    page: Any, live: LiveServer
) -> None:
    gateway = live.app.state.gateway
    gateway.delivery_delay = 600.0  # no webhook finishes it for the page
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    pay_with(page, "3155")
    step(page, "payment_requires_action")
    checkout_id = parse_qs(urlparse(page.url).query)["id"][0]

    async def paid_then_the_server_stopped(rt: Runtime) -> None:
        # The bank approved and the payment was recorded, then the process died before
        # the order; meanwhile the hold lapsed and the bags sold out.
        await _the_hold_lapses_and_it_sells_out(checkout_id, "Canvas Tote Bag")(rt)
        async with rt.db.transaction() as s:
            row = await s.get(Checkout, checkout_id)
            assert row is not None
            intent_id = row.context["payment"]["intent_id"]
        await gateway.authenticate(intent_id, success=True)
        await apply_server_event(rt, checkout_id, Event.ACTION_COMPLETED)
        await apply_server_event(rt, checkout_id, Event.PAYMENT_SUCCESS)

    live.call(paid_then_the_server_stopped)
    page.reload()
    panel = step(page, "payment_refunded")
    expect(panel.locator("[data-refund-reason]")).to_contain_text("sold out")
