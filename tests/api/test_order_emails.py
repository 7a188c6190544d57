"""The order e-mails staff actions and purchases send, as a mail server receives them:
the shop owner's new-order notice (queued with the order itself) and the shipping notice
a recorded shipment sends the customer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.api.test_emails_smtp import _parts, _purchase
from tests.api.test_purchase_stock_and_coupons import coupons_priced  # noqa: F401 (fixture)
from tests.smtp_inbox import Inbox
from tests.support import Api
from tillpoint.outbox.models import OutboxMessage
from tillpoint.outbox.service import deliver_outbox
from tillpoint.runtime import Runtime


@pytest.fixture
def settings_overrides(smtp_port: int) -> dict[str, Any]:
    # test_emails_smtp's settings (where no owner_email means one e-mail per purchase).
    return {
        "payment_gateway": "sandbox",
        "sandbox_webhook_secret": "whsec_emails",
        "notification_smtp_host": "127.0.0.1",
        "notification_smtp_port": smtp_port,
        "notification_from": "orders@acme.example",
        "shop_name": "Acme Goods",
        "public_base_url": "http://testserver",
        "owner_email": "owner@acme.example",
    }


@pytest.mark.usefixtures("coupons_priced")
async def test_the_owner_hears_of_a_new_order(api: Api, rt: Runtime, inbox: Inbox) -> None:
    order = await _purchase(api, rt)
    async with rt.db.transaction() as s:
        [queued] = await s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "owner_new_order")
        )
    assert queued.created_at == order.created_at  # written with the order, in its transaction
    assert await deliver_outbox(rt) == 2
    to_owner = [m for m in inbox.messages() if m["To"] == "owner@acme.example"]
    [message] = to_owner
    total = f"${order.total // 100:,}.{order.total % 100:02d}"
    assert message["Subject"] == f"New order {order.number}: {total}"
    text, html = _parts(message)
    for part in (text, html):
        assert "2 \u00d7 Walnut desk" in part and "ada@example.com" in part
        assert f"http://testserver/admin/orders/{order.id}" in part


@pytest.mark.usefixtures("coupons_priced")
async def test_a_shipment_sends_the_customer_its_parcel_and_tracking(
    api: Api,
    admin_api: Api,
    rt: Runtime,
    inbox: Inbox,
) -> None:
    order = await _purchase(api, rt)
    [line] = (await admin_api.get(f"/api/admin/orders/{order.id}")).json()["lines"]
    r = await admin_api.post(f"/api/admin/orders/{order.id}/fulfillments", json={
        "carrier": "UPS", "tracking_number": "1Z999AA10123456784",
        "lines": [{"line_id": line["id"], "quantity": 1}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    await deliver_outbox(rt)
    by_subject = {str(m["Subject"]): m for m in inbox.messages()}
    shipped = by_subject[f"Order {order.number} is on its way"]
    assert shipped["To"] == "ada@example.com"
    text, html = _parts(shipped)
    assert "1 \u00d7 Walnut desk" in text and "2 \u00d7 Walnut desk" not in text
    assert "1Z999AA10123456784" in text
    assert 'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"' in html
