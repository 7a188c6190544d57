"""The confirmation email of a purchase made in the browser: its HTML part as Chromium
draws it (screenshots at 1280 and 360 px), and its link, opened in a browser that has
none of the shopper's cookies, showing the order with the same amounts."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, LiveServer, assert_accessible
from tests.e2e.shopper import guest_to_payment, pay_with, step
from tillpoint.outbox.service import LogSender, Message, deliver_pending
from tillpoint.runtime import Runtime


def _sent(live: LiveServer) -> list[Message]:
    sender = LogSender()

    async def deliver(rt: Runtime) -> None:
        await deliver_pending(rt, sender)

    live.call(deliver)
    return sender.sent


def test_confirmation_email_renders_and_its_link_reaches_the_order(
    page: Any, browser: Any, live: LiveServer, shots: Any
) -> None:
    guest_to_payment(page, ("Assam Breakfast Tea, 250 g", 2), email="buyer@example.com")
    pay_with(page, "4242")
    step(page, "order_confirmation")
    [email] = [m for m in _sent(live) if m.kind == "order_confirmation"]
    assert email.recipient == "buyer@example.com"
    html, text = str(email.payload["html"]), str(email.payload["text"])
    total = re.search(r"^Total: (\S+)$", text, re.M)
    assert total is not None and total.group(1).startswith("$")

    # The HTML part alone, as a mail client shows it (its own tab: no shop page, no CSP).
    mail = browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        client = mail.new_page()
        client.set_content(html)
        expect(client.get_by_role("heading", name="Thank you for your order")).to_be_visible()
        expect(client.locator("body")).to_contain_text("Assam Breakfast Tea, 250 g")
        expect(client.locator("body")).to_contain_text(total.group(1))
        assert_accessible(client, context="confirmation email")
        shots(client, "confirmation-email-1280")
        client.set_viewport_size({"width": 360, "height": 740})
        assert client.evaluate("document.documentElement.scrollWidth") <= 360
        shots(client, "confirmation-email-360")
    finally:
        mail.close()

    # The tab is gone: a browser without the shopper's cookies follows the email's link.
    [path] = re.findall(r"https?://[^/\s]+(/orders/\S+)", text)
    stranger = browser.new_context(base_url=live.url, viewport=DESKTOP, locale="en-US")
    try:
        other = stranger.new_page()
        other.goto(path)
        order = other.locator("#order")
        expect(order).to_contain_text("2 \u00d7 Assam Breakfast Tea, 250 g")
        expect(order.locator(".grand")).to_contain_text(total.group(1))
        expect(order.locator(".order-status")).to_have_text("Status: Paid")
        shots(other, "order-from-email-link")
    finally:
        stranger.close()
