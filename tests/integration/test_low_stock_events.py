"""``inventory.low_stock``: a sale or an adjustment that takes a SKU's available stock to
its threshold announces it once (webhook and owner email, in the change's transaction);
further sales below it say nothing; a restock arms the next crossing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.inventory_support import fulfill, reserve, stocked
from tillpoint.inventory.levels import ExternalLevel, adjust_stock, apply_external_levels
from tillpoint.inventory.reservations import StockRequest
from tillpoint.outbox.models import OutboxMessage
from tillpoint.runtime import Runtime
from tillpoint.webhooks.models import WebhookEvent
from tillpoint.webhooks.public import EndpointDraft, EventType, create_endpoint


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "owner_email": "owner@shop.example",
        "low_stock_threshold": 5,
        "public_base_url": "https://shop.example",
    }


@pytest.fixture
async def subscribed(rt: Runtime) -> None:
    draft = EndpointDraft("http://127.0.0.1:9/hooks", (EventType.inventory_low_stock,))
    await create_endpoint(rt, draft)


async def _announced(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.db.transaction() as s:
        rows = await s.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at))
        return [r.payload for r in rows if r.type == "inventory.low_stock"]


async def _owner_mails(rt: Runtime) -> list[OutboxMessage]:
    async with rt.db.transaction() as s:
        q = select(OutboxMessage).where(OutboxMessage.kind == "low_stock")
        return list(await s.scalars(q))


async def test_adjustments_announce_once_per_crossing(
    rt: Runtime, subscribed: None, clock: Any
) -> None:
    p = await stocked(rt, 8)  # tracked from here on, threshold 5 (the setting)
    for delta in (-2, -1, -1, -3):  # 6, 5 (crossing), 4, 1
        await adjust_stock(rt, p.id, delta=delta, reason="count")
        clock.advance(seconds=1)
    assert [(e["sku"], e["available"], e["threshold"]) for e in await _announced(rt)] == [
        (p.sku, 5, 5)
    ]
    await adjust_stock(rt, p.id, on_hand=20, reason="restock")
    await adjust_stock(rt, p.id, on_hand=3, reason="breakage")  # the next crossing
    announced = await _announced(rt)
    assert [e["available"] for e in announced] == [5, 3]
    assert announced[1] == {
        "product_id": p.id, "variant_id": None, "sku": p.sku, "available": 3,
        "on_hand": 3, "threshold": 5,
    }  # fmt: skip
    mails = await _owner_mails(rt)
    assert [m.recipient for m in mails] == ["owner@shop.example"] * 2
    assert all(p.sku in m.payload["subject"] for m in mails)
    # Its link opens the product in the dashboard (where stock is set), not the API.
    page = f"https://shop.example/admin/products/{p.id}"
    assert all(page in m.payload["text"] and page in m.payload["html"] for m in mails)


async def test_a_sale_that_reaches_the_threshold_announces_it_and_later_sales_do_not(
    rt: Runtime, subscribed: None
) -> None:
    p = await stocked(rt, 7)
    await reserve(rt, [StockRequest(p.id, 2)], "res-low-1")
    assert await _announced(rt) == []  # held, not sold: it may still come back
    await fulfill(rt, "res-low-1")  # 5 left: the crossing
    await reserve(rt, [StockRequest(p.id, 1)], "res-low-2")
    await fulfill(rt, "res-low-2")  # 4 left: already below
    assert [(e["available"], e["on_hand"]) for e in await _announced(rt)] == [(5, 5)]
    assert len(await _owner_mails(rt)) == 1


async def test_a_threshold_of_its_own_counts_for_the_sku(rt: Runtime, subscribed: None) -> None:
    p = await stocked(rt, 12, low_stock_threshold=10)
    await adjust_stock(rt, p.id, delta=-2, reason="count")
    assert [e["threshold"] for e in await _announced(rt)] == [10]


async def test_without_an_owner_email_only_the_webhook_goes(rt: Runtime, subscribed: None) -> None:
    rt.settings = rt.settings.model_copy(update={"owner_email": None})
    p = await stocked(rt, 6)
    await adjust_stock(rt, p.id, delta=-1, reason="count")
    assert len(await _announced(rt)) == 1 and await _owner_mails(rt) == []


async def test_a_level_from_an_external_system_announces_its_crossing(
    rt: Runtime, subscribed: None
) -> None:
    tracked = await stocked(rt, 9)
    fresh = await factories.product(rt)  # in the catalog, not tracked yet
    async with rt.db.transaction() as s:
        levels = [ExternalLevel(tracked.sku, 2), ExternalLevel(fresh.sku, 1)]
        await apply_external_levels(rt, s, levels, source="erp")
    # The SKU that starts being tracked had no level to cross from.
    assert [(e["sku"], e["available"]) for e in await _announced(rt)] == [(tracked.sku, 2)]
