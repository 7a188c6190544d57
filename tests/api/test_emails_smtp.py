"""The shop's emails as a mail server receives them: a real SMTP server on loopback
(aiosmtpd) gets the confirmation of a purchase made over HTTP, the refund and the
shipping notice, each multipart with a text and an HTML part."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.api.test_checkout import send, start, to_state
from tests.api.test_purchase_stock_and_coupons import coupons_priced  # noqa: F401 (fixture)
from tests.smtp_inbox import Inbox
from tests.support import Api
from tillpoint.orders.emails import queue_shipped
from tillpoint.orders.models import Order
from tillpoint.outbox.service import deliver_outbox
from tillpoint.runtime import Runtime


@pytest.fixture
def settings_overrides(smtp_port: int) -> dict[str, Any]:
    return {
        "payment_gateway": "sandbox",
        "sandbox_webhook_secret": "whsec_emails",
        "notification_smtp_host": "127.0.0.1",
        "notification_smtp_port": smtp_port,
        "notification_from": "orders@acme.example",
        "shop_name": "Acme Goods",
        "shop_address": "1 Main Street, Springfield 12345",
        "public_base_url": "http://testserver",
    }


def _parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def _purchase(api: Api, rt: Runtime) -> Order:
    product = await factories.product(rt, price=123456, weight_grams=300, name="Walnut desk")
    await factories.coupon(rt, code="SAVE10", type="percentage", value=1000)
    r = await api.post("/api/cart/items", json={"product_id": product.id, "quantity": 2})
    assert r.status_code == 200, r.text
    assert (await api.post("/api/cart/coupons", json={"code": "SAVE10"})).status_code == 200
    cid = str((await start(api))["id"])
    await to_state(api, cid, "order_review")
    assert (await send(api, cid, "CONFIRM_ORDER")).status_code == 200
    done = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "order_confirmation", done
    await api.client._transport.app.state.gateway.drain()  # type: ignore[attr-defined]
    async with rt.db.transaction() as s:
        [order] = list(await s.scalars(select(Order)))
    return order


@pytest.mark.usefixtures("coupons_priced")
async def test_purchase_confirmation_arrives_by_smtp_and_its_link_opens_the_order(
    api: Api, new_api: Any, rt: Runtime, inbox: Inbox
) -> None:
    order = await _purchase(api, rt)
    assert order.subtotal == 246912 and order.discount_total == 24691
    assert await deliver_outbox(rt) == 1
    [(sender, recipients, _)] = inbox.received
    assert sender == "orders@acme.example" and recipients == ["ada@example.com"]
    [message] = inbox.messages()
    assert message["From"] == "Acme Goods <orders@acme.example>"
    assert message.get_content_type() == "multipart/alternative"
    total = f"${order.total // 100:,}.{order.total % 100:02d}"
    assert message["Subject"] == f"Order {order.number} confirmed — {total}"
    text, html = _parts(message)
    for part in (text, html):
        assert "Walnut desk" in part
        assert "$2,469.12" in part and "$1,234.56" in part  # line amount, unit price
        assert "SAVE10" in part and "\u2212$246.91" in part  # one line for the coupon
        assert total in part and "Ada" in part and "350 Fifth Avenue" in part
        assert "Acme Goods" in part and "Springfield 12345" in part
    assert "Thank you! Order" not in text  # the old one-liner is gone
    [link] = re.findall(r"http://testserver(/orders/\S+)", text)
    assert f'href="http://testserver{link}"' in html.replace("&amp;", "&")
    # A guest who closed the tab: a browser without the placing session opens the link.
    stranger: Api = await new_api()
    page = await stranger.client.get(link)
    assert page.status_code == 200 and order.id in page.text
    order_id, _, query = link.removeprefix("/orders/").partition("?")
    body = (await stranger.get(f"/api/orders/{order_id}?{query}")).json()
    assert body["id"] == order.id and body["totals"]["total"] == order.total
    assert await deliver_outbox(rt) == 0  # sent once


@pytest.mark.usefixtures("coupons_priced")
async def test_the_confirmation_reads_in_the_locale_the_shopper_checked_out_in(
    api: Api, rt: Runtime, inbox: Inbox
) -> None:
    api.client.headers["Accept-Language"] = "de-DE,de;q=0.9"
    order = await _purchase(api, rt)
    assert await deliver_outbox(rt) == 1
    text, html = _parts(inbox.messages()[0])
    for part in (text, html):
        assert "2.469,12\u00a0$" in part and "1.234,56\u00a0$" in part
        assert "$2,469.12" not in part
    assert order.currency == "USD"  # the shop's currency; only the format follows the shopper


async def test_refund_and_shipping_emails_arrive_by_smtp(
    api: Api, admin_api: Api, rt: Runtime, inbox: Inbox
) -> None:
    order = await _purchase(api, rt)
    r = await admin_api.post(
        f"/api/admin/orders/{order.id}/refunds", json={"amount": 1050, "reason": "Scratched top"}
    )
    assert r.status_code == 201, r.text
    async with rt.db.transaction() as s:
        loaded = await s.get(Order, order.id)
        assert loaded is not None
        queue_shipped(
            s, rt.settings, loaded, carrier="UPS", tracking_number="1Z999AA10123456784",
            tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
            now=rt.clock.now(),
        )  # fmt: skip
    assert await deliver_outbox(rt) == 3
    by_subject = {str(m["Subject"]): m for m in inbox.messages()}
    refund = by_subject[f"Partial refund for order {order.number}: $10.50"]
    text, html = _parts(refund)
    assert "$10.50" in text and "Scratched top" in text and "$10.50" in html
    shipped = by_subject[f"Order {order.number} is on its way"]
    text, html = _parts(shipped)
    assert "UPS" in text and "1Z999AA10123456784" in text
    assert 'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"' in html
    assert "2 \u00d7 Walnut desk" in text
