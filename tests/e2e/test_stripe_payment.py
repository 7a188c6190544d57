"""Whole purchases in the browser with the Stripe gateway, against a real localstripe
process: the page loads localstripe's Stripe.js stand-in from
``TILLPOINT_STRIPE_JS_ORIGIN``, the card is typed into its Card Element, its
``confirmCardPayment`` runs the 3-D Secure dialog, and our server talks to localstripe
with the real ``stripe`` SDK. Every request our app receives is recorded: the card
number never is in one.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import stripe
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import (
    fill_contact,
    guest_to_payment,
    screen,
    start_checkout,
    step,
    wait_until,
)
from tests.localstripe_server import LocalStripe
from tests.stripe_fixtures import STRIPE_KEY, stripe_settings

VISA = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"
THREE_D_SECURE = "4000002500003155"


@pytest.fixture
def settings_overrides(localstripe: LocalStripe) -> dict[str, Any]:
    return {**stripe_settings(localstripe.url), "stripe_js_origin": localstripe.url}


def enter_card(page: Any, number: str) -> None:
    """Type a card into the Card Element (the stand-in's five inputs)."""
    element = screen(page, "delivery").locator("#card-element")
    element.locator("input[placeholder=number]").fill(number)
    element.locator("input[placeholder=exp_month]").fill("12")
    element.locator("input[placeholder=exp_year]").fill("34")
    element.locator("input[placeholder=cvc]").fill("123")
    element.locator("input[placeholder=postal_code]").fill("95014")


def pay_by_card(page: Any, number: str) -> None:
    """Card into Stripe.js, continue to review, place the order."""
    enter_card(page, number)
    screen(page, "delivery").get_by_role("button", name="Continue to review").click()
    panel = screen(page, "review")
    panel.get_by_role("button", name=re.compile("Place order and pay")).click()


def stand_in_dialog(page: Any) -> Any:
    """localstripe's 3-D Secure dialog (a box its script adds to <body>)."""
    dialog = page.locator("body > div").filter(has_text="3D Secure")
    expect(dialog).to_be_visible()
    return dialog


def confirmation(page: Any) -> Any:
    panel = step(page, "order_confirmation")
    expect(panel.locator("[data-confirmation]")).to_contain_text(re.compile(r"Order TP-"))
    return panel


def assert_no_card_number_reached_us(live: LiveServer, *numbers: str) -> None:
    received = live.received
    writes = [r for r in received if r.method == "POST"]
    # The recorder saw the purchase's own writes (so an empty list cannot pass).
    assert any(r.path == "/api/payment/confirm" for r in writes)
    assert any(b"SELECT_PAYMENT" in r.body for r in writes)
    for number in numbers:
        for r in received:
            assert number.encode() not in r.raw(), f"{number} reached {r.method} {r.path}"


def intent_of(live: LiveServer, localstripe: LocalStripe, page: Any) -> dict[str, Any]:
    """The checkout's PaymentIntent as localstripe has it (payment method expanded)."""
    checkout_id = page.evaluate("() => new URL(location.href).searchParams.get('id')")
    view = page.evaluate("async (id) => (await fetch(`/api/checkout/${id}`)).json()", checkout_id)
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": localstripe.url})
    intent = client.v1.payment_intents.retrieve(
        view["context"]["payment"]["intent_id"], {"expand": ["payment_method"]}
    )
    return dict(intent.to_dict())


def test_card_purchase_through_stripe_js(
    page: Any, live: LiveServer, localstripe: LocalStripe, shots: Any
) -> None:
    guest_to_payment(page, ("Assam Breakfast Tea, 250 g", 1), email="card@example.com")
    panel = screen(page, "delivery")
    # The stand-in's Card Element is mounted; no test-card picker, no wallet button.
    expect(panel.locator("#card-element")).to_contain_text("localstripe")
    expect(panel.locator("[data-sandbox-cards]")).to_be_hidden()
    expect(panel.locator("[data-wallet]")).to_be_hidden()
    assert page.evaluate("() => typeof Stripe('pk_test_x').paymentRequest") == "undefined"
    # An empty card is refused in the page, before anything is sent.
    panel.get_by_role("button", name="Continue to review").click()
    expect(panel.locator("#payment-error")).to_have_text("Enter your card details.")
    assert_accessible(page, context="Stripe payment step")  # axe skips nothing of ours
    shots(page, "stripe-card")
    enter_card(page, VISA)
    panel.get_by_role("button", name="Continue to review").click()
    review = screen(page, "review")
    # The review names the card from what Stripe.js handed back, not just "Card".
    expect(review).to_contain_text("VISA ending 4242")
    review.get_by_role("button", name=re.compile("Place order and pay")).click()
    panel = confirmation(page)
    expect(panel).to_contain_text("card@example.com")
    shots(page, "stripe-confirmation")

    intent = intent_of(live, localstripe, page)
    assert intent["status"] == "succeeded"
    assert intent["payment_method"]["last4"] == "4242"
    panel.get_by_role("link", name="View your order").click()
    page.wait_for_url("**/orders/*")
    expect(page.locator("#order .order-details")).to_contain_text("ending 4242")
    assert_no_card_number_reached_us(live, VISA)


def test_declined_card_then_a_successful_retry(
    page: Any, live: LiveServer, localstripe: LocalStripe, shots: Any
) -> None:
    guest_to_payment(page, ("Canvas Tote Bag", 1))
    pay_by_card(page, DECLINED_ON_CHARGE)
    panel = step(page, "payment_failed")
    expect(panel.locator("[data-failure-reason]")).to_contain_text("declined")
    shots(page, "stripe-declined")
    panel.get_by_role("button", name="Try again").click()
    pay_by_card(page, VISA)
    confirmation(page)
    assert intent_of(live, localstripe, page)["payment_method"]["last4"] == "4242"
    assert_no_card_number_reached_us(live, DECLINED_ON_CHARGE, VISA)


def test_three_d_secure_completed_in_stripe_js(
    page: Any, live: LiveServer, localstripe: LocalStripe, shots: Any
) -> None:
    guest_to_payment(page, ("Merino Wool Socks", 1))
    pay_by_card(page, THREE_D_SECURE)
    step(page, "payment_requires_action")
    expect(page.locator("[data-stripe-challenge]")).to_be_visible()
    dialog = stand_in_dialog(page)
    shots(page, "stripe-3ds")
    dialog.get_by_role("button", name="Complete authentication").click()
    confirmation(page)
    assert intent_of(live, localstripe, page)["status"] == "succeeded"
    assert_no_card_number_reached_us(live, THREE_D_SECURE)


def test_three_d_secure_failed_then_another_card(
    page: Any, live: LiveServer, localstripe: LocalStripe
) -> None:
    guest_to_payment(page, ("Merino Wool Socks", 1))
    pay_by_card(page, THREE_D_SECURE)
    step(page, "payment_requires_action")
    stand_in_dialog(page).get_by_role("button", name="Fail authentication").click()
    panel = step(page, "payment_failed")
    expect(panel.locator("[data-failure-reason]")).to_contain_text("authentication")
    panel.get_by_role("button", name="Use another card").click()
    pay_by_card(page, VISA)
    confirmation(page)
    assert_no_card_number_reached_us(live, THREE_D_SECURE, VISA)


def test_reload_on_the_payment_step_mounts_the_card_element_again(
    page: Any, live: LiveServer, localstripe: LocalStripe
) -> None:
    guest_to_payment(page, ("Stoneware Mug", 1))
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(screen(page, "delivery").locator("#card-element input")).to_have_count(5)
    pay_by_card(page, VISA)
    confirmation(page)
    expect(page.locator("[data-cart-count]").first).to_have_text("")


# --- Apple Pay / Google Pay (Payment Request Button) ------------------------------------

# Neither headless Chromium nor localstripe has a wallet, so for these tests (and only
# these) the browser is given one: the stand-in script is served with a fake
# ``paymentRequest`` / ``paymentRequestButton`` added, emulating Stripe.js over a wallet
# at the browser boundary. ``window.__wallet`` records what the page asked of it.
WALLET_JS = """
;(() => {
  const standIn = Stripe;
  const wallet = window.__wallet = {
    available: %(available)s, methodId: %(method)s, requests: [], confirms: [], completed: [],
  };
  Stripe = (key) => {
    const stripe = standIn(key);
    stripe.paymentRequest = (options) => {
      const handlers = {};
      wallet.requests.push(options);
      return {
        canMakePayment: async () => (wallet.available ? { googlePay: true } : null),
        on: (name, handler) => { handlers[name] = handler; },
        show: () => handlers.paymentmethod({
          paymentMethod: { id: wallet.methodId }, payerEmail: "wallet@example.com",
          payerName: "Walt Wallet",
          shippingAddress: {
            recipient: "Walt Wallet", addressLine: ["1 Infinite Loop"], city: "Cupertino",
            region: "CA", postalCode: "95014", country: "US",
          },
          complete: (status) => wallet.completed.push(status),
        }),
      };
    };
    const elements = stripe.elements;
    stripe.elements = () => {
      const group = elements();
      const create = group.create.bind(group);
      group.create = (type, options) => type !== "paymentRequestButton" ? create(type, options) : {
        mount(el) {
          this.button = document.createElement("button");
          this.button.type = "button";
          this.button.textContent = "Pay with Google Pay";
          this.button.addEventListener("click", () => options.paymentRequest.show());
          el.append(this.button);
        },
        destroy() { if (this.button) this.button.remove(); },
        on() {},
      };
      return group;
    };
    const confirm = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (secret, data, options) => {
      if (!data || typeof data.payment_method !== "string") return confirm(secret, data);
      wallet.confirms.push({ secret, data, options });
      // What Stripe.js answers; the server confirms (or finds confirmed) the intent itself.
      return wallet.methodId === "pm_card_visa"
        ? { paymentIntent: { status: "succeeded" } }
        : { error: { type: "card_error", message: "Your card was declined." } };
    };
    return stripe;
  };
})();
"""


def give_browser_a_wallet(
    page: Any, localstripe: LocalStripe, *, available: bool, method: str = "pm_card_visa"
) -> None:
    script = WALLET_JS % {"available": "true" if available else "false", "method": repr(method)}

    def serve(route: Any) -> None:
        original = route.fetch()
        route.fulfill(response=original, body=original.text() + script)

    page.route(f"{localstripe.url}/js.stripe.com/v3/", serve)


def test_wallet_payment_through_the_payment_request_button(
    page: Any, live: LiveServer, localstripe: LocalStripe, shots: Any
) -> None:
    """The express wallet sits at the top of the first screen. Its sheet's payer,
    address and method go to the machine as its events; delivery and tax changed the
    total, so the sheet completes and the review shows the total to place the order."""
    give_browser_a_wallet(page, localstripe, available=True)
    start_checkout(page, ("Canvas Tote Bag", 1))
    panel = screen(page, "contact")
    wallet = panel.locator("[data-wallet]")
    expect(wallet).to_be_visible()
    # Above the contact form: the first thing in the checkout after its heading.
    assert page.evaluate(
        """() => !!(document.querySelector("#step [data-wallet]")
            .compareDocumentPosition(document.querySelector("#step [data-contact-form]"))
            & Node.DOCUMENT_POSITION_FOLLOWING)"""
    )
    assert_accessible(page, context="express wallet")
    shots(page, "wallet-button")
    panel.get_by_role("button", name="Pay with Google Pay").click()
    review = screen(page, "review")
    expect(review.locator("[data-review='contact']")).to_contain_text("wallet@example.com")
    expect(review.locator("[data-review='shipping_address']")).to_contain_text("Walt Wallet")
    expect(review.locator("[data-review='payment_method']")).to_contain_text("4242")
    assert page.evaluate("() => window.__wallet.completed") == ["success"]
    shots(page, "wallet-review")
    review.get_by_role("button", name=re.compile("Place order and pay")).click()
    confirmation(page)
    wallet_seen = page.evaluate("() => window.__wallet")
    intent = intent_of(live, localstripe, page)
    assert intent["status"] == "succeeded"
    # Placed from the review: the server confirmed the intent, not Stripe.js.
    assert wallet_seen["confirms"] == []
    assert wallet_seen["requests"] == [
        {
            "country": "US",
            "currency": "usd",
            "total": {
                "label": "tillpoint order (before delivery and tax)",
                "amount": 1500,
                "pending": True,
            },
            "requestPayerEmail": True,
            "requestPayerName": True,
            "requestShipping": True,
        }
    ]
    assert intent["amount"] > 1500  # delivery and tax on top, placed from the review


def test_a_declined_wallet_payment_fails_the_checkout_and_says_not_charged(
    page: Any, live: LiveServer, localstripe: LocalStripe
) -> None:
    give_browser_a_wallet(page, localstripe, available=True, method="pm_card_chargeCustomerFail")
    start_checkout(page, ("Canvas Tote Bag", 1))
    screen(page, "contact").get_by_role("button", name="Pay with Google Pay").click()
    screen(page, "review").get_by_role("button", name=re.compile("Place order and pay")).click()
    panel = step(page, "payment_failed")
    expect(panel.locator("[data-failure-reason]")).to_contain_text("declined")
    expect(panel).to_contain_text("You have not been charged.")
    panel.get_by_role("button", name="Use another card").click()
    pay_by_card(page, VISA)
    confirmation(page)


def test_no_wallet_in_the_browser_keeps_the_button_hidden(
    page: Any, live: LiveServer, localstripe: LocalStripe
) -> None:
    give_browser_a_wallet(page, localstripe, available=False)
    start_checkout(page, ("Canvas Tote Bag", 1))
    panel = screen(page, "contact")
    wait_until(page, "() => !!window.__wallet && window.__wallet.requests.length === 1")
    expect(panel.locator("[data-wallet]")).to_be_hidden()
    expect(panel.get_by_role("button", name="Pay with Google Pay")).to_have_count(0)
    fill_contact(page)
    panel.get_by_role("button", name="Continue to delivery").click()
    expect(screen(page, "delivery").locator("#card-element input")).to_have_count(5)
    pay_by_card(page, VISA)
    confirmation(page)
