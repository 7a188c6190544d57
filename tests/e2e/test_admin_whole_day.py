"""Issue 21's proof, the owner's whole day in Chromium: in the dashboard add a webhook
endpoint (a loopback receiver) and a product with a variant, an image and stock; a shopper
sees it on its own page and buys it in another browser; the order reaches Home and the
orders list; the owner ships it with tracking (the customer's e-mail arrives at a loopback
SMTP server) and refunds one unit with restock (the stock rises by exactly one); the
receiver gets the order's events, each verifying with docs/webhooks.md's snippet. axe on
every admin page, at 1280 and 360 px, on SQLite and PostgreSQL.

The background work (e-mails, webhook deliveries) is the sweeper's: the live server's
``background_tasks`` is off in tests, so the test runs one sweep where the server would.
With ``TILLPOINT_DOCS_SCREENSHOTS=1`` its pages (with this data) are the README's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.admin import admin_signed_in, make_accounts, open_admin, pwned
from tests.e2e.conftest import DESKTOP, MOBILE, LiveServer, assert_accessible
from tests.e2e.orders import place_demo_order
from tests.e2e.shopper import no_horizontal_scroll, open_page, pay_with, step, to_delivery
from tests.e2e.test_admin_dashboard import docs_shot
from tests.smtp_inbox import Inbox
from tests.webhook_receiver import Receiver, documented_verifier, serve_receiver
from tillpoint.catalog.public import Product, update_product
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep

BUYER = "buyer@example.com"
OWNER_INBOX = "owner@shop.example"
NAME, SKU, VARIANT, VARIANT_SKU = "Linen Apron", "APRON-1", "Medium", "APRON-1-M"
TRACKING = "1Z999AA10123456784"
DEMO_PICTURED = ("Canvas Tote Bag", "Stoneware Mug", "Merino Wool Socks")
ORDER_EVENTS = ["order.created", "order.paid", "order.refunded", "order.fulfilled"]


@pytest.fixture
def settings_overrides(smtp_port: int) -> dict[str, Any]:
    return {
        "notification_smtp_host": "127.0.0.1",
        "notification_smtp_port": smtp_port,
        "notification_from": "orders@shop.example",
        "owner_email": OWNER_INBOX,
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


def _sweep(live: LiveServer) -> dict[str, int]:
    """One pass of the sweeper, on the server's loop: what the server runs in the
    background (the outbox's e-mails, the webhook deliveries)."""

    async def sweep(rt: Runtime) -> dict[str, int]:
        return await run_sweep(rt)

    return live.call(sweep, timeout=60)


def _checked(tab: Any, live: LiveServer, name: str, *, table: str | None = None) -> None:
    """The checks every admin page gets, then its picture. A long ``table`` on a phone:
    the screenful from the table's top (the whole page would be a tall, heavy PNG)."""
    no_horizontal_scroll(tab)
    assert_accessible(tab, context=name)
    assert pwned(tab) is None
    narrow = tab.viewport_size["width"] < DESKTOP["width"]
    if table is not None and narrow:
        tab.evaluate("(id) => document.getElementById(id).scrollIntoView()", table)
    docs_shot(tab, live, name, full_page=table is None or not narrow)


def _add_endpoint(tab: Any, live: LiveServer, url: str) -> str:
    """The webhook endpoint for the order's events; its secret, shown once."""
    open_admin(tab, "/admin/webhooks")
    add = tab.locator("#endpoint-form")
    add.get_by_label("Address (https://…)").fill(url)
    add.get_by_label("Description (optional)").fill("The warehouse's order system")
    for event in ORDER_EVENTS:
        add.get_by_label(event).check()
    add.get_by_role("button", name="Add endpoint").click()
    expect(tab.locator("#secret-box")).to_be_focused()
    secret = tab.locator("#secret-value").text_content()
    assert secret and len(secret) >= 16
    tab.get_by_role("button", name="I have copied it").click()
    return secret


def _add_product(tab: Any, live: LiveServer, image: str) -> str:
    """A product with an image, a variant and the variant's stock (10); its slug."""
    open_admin(tab, "/admin/products")
    add = tab.locator("#product-form")
    add.get_by_label("Name").fill(NAME)
    add.get_by_label("SKU").fill(SKU)
    add.get_by_label(re.compile("^Price")).fill("24.00")
    add.get_by_role("button", name="Add product").click()
    tab.locator("#product-table").get_by_role("link", name=NAME).click()
    tab.wait_for_selector("html[data-ready='true']")
    edit = tab.locator("#edit-form")
    edit.get_by_label("Description (optional)").fill("Stonewashed linen, two pockets.")
    edit.get_by_label(re.compile("^Image addresses")).fill(image)
    edit.get_by_role("button", name="Save product").click()
    expect(tab.locator("#action-status")).to_contain_text(f"Saved {NAME}")
    picture = tab.locator("#image-list").get_by_role("img", name=re.compile(f"^{NAME}"))
    expect(picture).to_be_visible()
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
    tab.get_by_text("Add a variant").click()
    variant = tab.locator("#variant-form")
    variant.get_by_label("SKU").fill(VARIANT_SKU)
    variant.get_by_label("Name").fill(VARIANT)
    variant.get_by_label(re.compile("^Attributes")).fill("size=M")
    variant.get_by_role("button", name="Add variant").click()
    expect(tab.locator("#action-status")).to_contain_text(f"Variant {VARIANT} added")
    stock = tab.locator("#stock-form")
    stock.get_by_label("For").select_option(label=f"{VARIANT} ({VARIANT_SKU})")
    stock.get_by_label("On hand").fill("10")
    stock.get_by_role("button", name="Set stock").click()
    expect(tab.locator("#stock-summary")).to_contain_text(
        f"{VARIANT} ({VARIANT_SKU}): 10 available"
    )
    return str(tab.locator("#edit-form").get_by_label("Slug").input_value())


def _shopper_buys(browser: Any, live: LiveServer, slug: str, viewport: dict[str, int]) -> str:
    """Another browser (its own cookies): the product's page, two of the variant, the page
    checkout paid with the sandbox's Visa; the order number the confirmation shows."""
    context = browser.new_context(
        base_url=live.url, viewport=viewport, locale="en-US", timezone_id="UTC"
    )
    try:
        shop = context.new_page()
        open_page(shop, f"/products/{slug}")
        expect(shop.get_by_role("heading", level=1, name=NAME)).to_be_visible()
        image = shop.get_by_role("img", name=NAME)
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        expect(shop.locator(".price").first).to_contain_text("$24.00")
        shop.get_by_label("Option").select_option(label=VARIANT)
        shop.get_by_label("Quantity").fill("2")
        shop.get_by_role("button", name="Add to cart").click()
        expect(shop.locator("[data-cart-count]").first).to_have_text("2")
        open_page(shop, "/cart")
        shop.get_by_role("link", name="Checkout").click()
        shop.wait_for_url("**/checkout?id=*")
        shop.wait_for_selector("html[data-ready='true']")
        to_delivery(shop, BUYER)
        pay_with(shop, "4242")
        said = step(shop, "order_confirmation").locator("[data-confirmation]")
        expect(said).to_contain_text(re.compile(r"Order TP-[0-9A-Z-]+ "))
        text = said.text_content()
        found = re.search(r"Order (TP-[0-9A-Z-]+) ", text or "")
        assert found, text
        return found.group(1)
    finally:
        context.close()


def _stock_of_variant(tab: Any, product_id: str) -> int:
    """The variant's available stock, as the dashboard's product page says it."""
    open_admin(tab, f"/admin/products/{product_id}")
    summary = tab.locator("#stock-summary").text_content() or ""
    found = re.search(re.escape(f"{VARIANT} ({VARIANT_SKU}): ") + r"(\d+) available", summary)
    assert found, summary
    return int(found.group(1))


def _owner_ships_and_refunds(tab: Any, live: LiveServer, number: str) -> str:
    """From Home to the order; ship everything with UPS, refund one unit with restock;
    the order's id."""
    open_admin(tab, "/admin")
    expect(tab.locator("[data-stat=orders]")).to_have_text("1")
    expect(tab.locator("[data-stat=awaiting]")).to_have_text("1")
    tab.locator("[data-stat=awaiting] a").click()
    row = tab.locator("#order-table tbody tr").filter(has_text=number)
    expect(row).to_contain_text(BUYER)
    row.get_by_role("link", name=f"#{number}").click()
    tab.wait_for_selector("html[data-ready='true']")
    expect(tab.get_by_role("heading", name=f"Order #{number}")).to_be_visible()
    order_id = tab.url.rsplit("/", 1)[1]
    ship = tab.locator("#fulfil-form")
    expect(ship.get_by_label(re.compile(re.escape(f"({VARIANT_SKU})")))).to_have_value("2")
    ship.get_by_label("Carrier").fill("UPS")
    ship.get_by_label("Tracking number").fill(TRACKING)
    ship.get_by_role("button", name="Mark as shipped").click()
    expect(tab.locator("#action-status")).to_contain_text("Marked 2 items as shipped with UPS")
    expect(tab.locator("#fulfil-section")).to_be_hidden()
    refund = tab.locator("#refund-form")
    line = refund.get_by_label(re.compile(re.escape(f"({VARIANT_SKU})")))
    line.fill("1")
    expect(refund.get_by_label("Put back in stock")).to_be_checked()
    refund.get_by_label("Reason (optional)").fill("One came back unworn")
    refund.get_by_role("button", name="Refund").click()
    status = tab.locator("#action-status")
    # One of two units: half the line's total (its tax included), and exactly one back.
    back = re.escape(f"; put back in stock: 1 \u00d7 {VARIANT_SKU}.")
    expect(status).to_contain_text(re.compile(r"^Refunded \$\d+\.\d\d" + back + "$"))
    expect(tab.locator("#refund-list")).to_contain_text(f"restocked 1 \u00d7 {VARIANT_SKU}")
    return order_id


def _shipped_mail(inbox: Inbox) -> str:
    """The customer's shipped e-mail's text, the one naming the tracking number."""
    texts = []
    for message in inbox.messages():
        part = message.get_body(("plain",))
        if BUYER in str(message["To"]) and part is not None and TRACKING in part.get_content():
            texts.append(str(part.get_content()))
    assert len(texts) == 1, [m["Subject"] for m in inbox.messages()]
    return texts[0]


@pytest.mark.parametrize("viewport", ["page", "mobile_page"], ids=["1280px", "360px"])
def test_owners_whole_day_from_a_new_product_to_a_verified_refund_webhook(
    viewport: str,
    request: pytest.FixtureRequest,
    live: LiveServer,
    browser: Any,
    inbox: Inbox,
    receiver: Receiver,
) -> None:
    make_accounts(live)
    tab = request.getfixturevalue(viewport)
    admin_signed_in(tab, "/admin/webhooks")
    secret = _add_endpoint(tab, live, receiver.url)
    slug = _add_product(tab, live, f"{live.url}/static/favicon.svg")
    product_id = tab.url.rsplit("/", 1)[1]
    number = _shopper_buys(browser, live, slug, MOBILE if viewport == "mobile_page" else DESKTOP)
    before = _stock_of_variant(tab, product_id)
    assert before == 8  # 10 set, 2 sold
    order_id = _owner_ships_and_refunds(tab, live, number)
    _checked(tab, live, "order")
    assert _stock_of_variant(tab, product_id) == before + 1
    _checked(tab, live, "product")

    # The background work: e-mails out through SMTP, webhooks to the receiver.
    results = _sweep(live)
    assert results["webhooks"] == len(ORDER_EVENTS), results
    text = _shipped_mail(inbox)
    assert "UPS" in text and NAME in text
    assert OWNER_INBOX in [to for _, tos, _ in inbox.received for to in tos]  # new order
    verify = documented_verifier()
    events = []
    for got in receiver.received:
        assert verify(got.body, got.headers["Tillpoint-Signature"], secret), got.headers
        event = json.loads(got.body)
        assert event["data"]["id"] == order_id and event["data"]["number"] == number
        events.append(event["type"])
    assert sorted(events) == sorted(ORDER_EVENTS)

    # The owner sees the same in the delivery log; and the rest of the day's pages.
    open_admin(tab, "/admin/webhooks")
    _checked(tab, live, "webhooks")
    tab.locator("#endpoint-table").get_by_role("link", name=re.compile("^Deliveries")).click()
    tab.wait_for_selector("html[data-ready='true']")
    rows = tab.locator("#delivery-table tbody tr")
    expect(rows).to_have_count(len(ORDER_EVENTS))
    for i in range(len(ORDER_EVENTS)):
        expect(rows.nth(i)).to_contain_text("delivered")
    _checked(tab, live, "webhook-deliveries")
    _more_orders(live)
    open_admin(tab, "/admin/orders")
    expect(tab.locator("#order-table tbody tr")).to_have_count(3)
    _checked(tab, live, "orders", table="order-table")
    _pictures_for_the_demo(live, f"{live.url}/static/favicon.svg")
    open_admin(tab, "/admin/products")
    expect(tab.locator("#product-table").get_by_role("img", name=NAME)).to_be_visible()
    _checked(tab, live, "products", table="product-table")
    open_admin(tab, "/admin")
    expect(tab.locator("[data-stat=orders]")).to_have_text("3")
    _checked(tab, live, "home")


def _more_orders(live: LiveServer) -> None:
    """Two more of today's orders, as the lists and Home show a day with a few."""
    place_demo_order(live, "ada@example.com", {"Canvas Tote Bag": 1})
    place_demo_order(live, "grace@example.com", {"Canvas Tote Bag": 2})


def _pictures_for_the_demo(live: LiveServer, image: str) -> None:
    """The demo catalog has no images: a few get the shop's own, for the products list."""

    async def picture(rt: Runtime) -> None:
        async with rt.db.transaction() as s:
            rows = await s.scalars(select(Product.id).where(Product.name.in_(DEMO_PICTURED)))
            ids = list(rows)
        for product_id in ids:
            await update_product(rt, product_id, {"images": (image,)})

    live.call(picture)
