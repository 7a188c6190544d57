"""`tillpoint inventory sync` from Shopify, against a loopback stand-in of the Shopify Admin
REST API version 2024-01 (tests/provider_apis.py: ``inventory_levels.json``,
``inventory_items.json?ids=``, ``X-Shopify-Access-Token``, cursor
pagination in ``Link`` headers, ``{"errors": ...}`` bodies, 429 with ``Retry-After``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.inventory_support import level, stocked
from tests.provider_apis import (
    HANG,
    SHOPIFY_TOKEN,
    Answer,
    FakeProviders,
    provider_settings,
    serve_providers,
)
from tests.sync_cli import run_sync
from tillpoint.config import Settings
from tillpoint.inventory.providers import shopify_from_settings
from tillpoint.inventory.sync import sync_inventory
from tillpoint.runtime import Runtime

LOC_A, LOC_B, OTHER_LOC = 655441491, 655441492, 999
LEVELS = "/admin/api/2024-01/inventory_levels.json"
ITEMS = "/admin/api/2024-01/inventory_items.json"


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    yield from serve_providers()


@pytest.fixture
def settings_overrides(fake: FakeProviders) -> dict[str, Any]:
    return {**provider_settings(fake), "inventory_provider": "shopify"}


def shop(fake: FakeProviders, skus: dict[str, list[int | None]]) -> None:
    """One Shopify product per SKU; its inventory item's ``available`` at LOC_A, LOC_B and a
    location we do not sell from, in that order (None: no level there)."""
    fake.shopify.products = [
        {"id": 100 + n, "title": sku, "variants": [
            {"id": 200 + n, "sku": sku, "inventory_item_id": 300 + n}]}
        for n, sku in enumerate(skus)
    ]  # fmt: skip
    fake.shopify.levels = [
        {"inventory_item_id": 300 + n, "location_id": loc, "available": qty,
         "updated_at": "2024-01-02T10:00:00-05:00"}
        for n, counts in enumerate(skus.values())
        for loc, qty in zip((LOC_A, LOC_B, OTHER_LOC), counts, strict=False)
        if qty is not None or loc == LOC_B
    ]  # fmt: skip


async def test_sync_follows_cursor_pages_sums_locations_and_reports_unknown_skus(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a, b, c = await stocked(rt, 1), await stocked(rt, 2), await stocked(rt, 3)
    shop(fake, {a.sku: [5, 7, 100], b.sku: [-2, 0], c.sku: [4, None], "NOT-OURS": [9, 9]})
    fake.shopify.page_size = 2  # the walk has to follow rel="next" on both listings
    result = await sync_inventory(rt, shopify_from_settings(settings))
    assert result.error is None
    assert result.unknown_skus == ["NOT-OURS"]
    # Summed over the configured locations only; oversold (negative) is 0; null counts 0.
    assert [(await level(rt, p.id)).on_hand for p in (a, b, c)] == [12, 0, 4]
    assert result.updated == 3
    seen = [s for s in fake.seen if s.path == LEVELS]
    assert len(seen) == 4 and seen[0].query["location_ids"] == [f"{LOC_A},{LOC_B}"]
    # A next page asks by page_info (and limit) only, as Shopify requires.
    assert all(set(s.query) == {"limit", "page_info"} for s in seen[1:])
    assert {s.headers["x-shopify-access-token"] for s in fake.seen} == {SHOPIFY_TOKEN}
    (items,) = [s for s in fake.seen if s.path == ITEMS]  # the SKUs of the items found
    assert sorted(items.query["ids"][0].split(",")) == ["300", "301", "302", "303"]


async def test_skus_are_asked_for_100_items_at_a_time(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    shop(fake, {**{f"OTHER-{n}": [1, 1] for n in range(150)}, a.sku: [2, 3]})
    result = await sync_inventory(rt, shopify_from_settings(settings))
    assert result.error is None and (await level(rt, a.id)).on_hand == 5
    assert len(result.unknown_skus) == 150
    asked = [len(s.query["ids"][0].split(",")) for s in fake.seen if s.path == ITEMS]
    assert asked == [100, 51]


@pytest.mark.parametrize(
    ("prefix", "answer", "expected"),
    [
        (LEVELS, Answer(401, {"errors": "[API] Invalid API key or access token"}),
         "answered 401: [API] Invalid API key"),
        (LEVELS, Answer(403, {"errors": "[API] This action requires merchant approval for "
                              "read_inventory scope."}), "answered 403: [API] This action"),
        (ITEMS, Answer(404, {"errors": "Not Found"}), "answered 404: Not Found"),
        (ITEMS, Answer(200, {"inventory_items": [{"sku": "X"}]}), "unreadable inventory items"),
        (LEVELS, Answer(422, {"errors": {"base": ["location_ids is invalid"]}}),
         "answered 422: {'base'"),
        (LEVELS, Answer(402, {"errors": "Unavailable Shop"}), "answered 402: Unavailable Shop"),
        (LEVELS, Answer(503, "<html>Service Unavailable</html>"), "answered 503"),
        (LEVELS, Answer(429, {"errors": "Exceeded 2 calls per second for api client."},
                        {"Retry-After": "60.0", "X-Shopify-Shop-Api-Call-Limit": "40/40"}),
         "rate limited (429, retry after 60.0s)"),
        (LEVELS, Answer(200, {"inventory_levels": [{"inventory_item_id": 300}]}),
         "unreadable levels page"),
        (LEVELS, HANG, "timed out"),
    ],
)  # fmt: skip
async def test_a_failed_read_is_reported_and_changes_nothing(
    rt: Runtime, settings: Settings, fake: FakeProviders, prefix: str, answer: Any, expected: str
) -> None:
    a = await stocked(rt, 1)
    shop(fake, {a.sku: [5, 7]})
    fake.fail_next(prefix, answer)
    result = await sync_inventory(rt, shopify_from_settings(settings))
    assert result.error is not None and expected in result.error, result.error
    assert (result.updated, (await level(rt, a.id)).on_hand) == (0, 1)


async def test_a_failure_on_a_later_page_applies_none_of_the_earlier_pages(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a, b = await stocked(rt, 1), await stocked(rt, 2)
    shop(fake, {a.sku: [5, 0], b.sku: [6, 0]})
    fake.shopify.page_size = 2
    fake.shopify.levels.sort(key=lambda lv: lv["location_id"])
    fake.fail_next(LEVELS, Answer(500, {"errors": "Internal Server Error"}), needs="page_info")
    result = await sync_inventory(rt, shopify_from_settings(settings))
    assert result.error and "answered 500" in result.error
    assert [(await level(rt, p.id)).on_hand for p in (a, b)] == [1, 2]


async def test_a_429_is_retried_after_the_wait_it_asks_for(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    shop(fake, {a.sku: [5, 7]})
    headers = {"Retry-After": "0.0", "X-Shopify-Shop-Api-Call-Limit": "40/40"}
    throttled = Answer(429, {"errors": "Exceeded 2 calls per second for api client."}, headers)
    fake.fail_next(LEVELS, throttled, times=2)
    result = await sync_inventory(rt, shopify_from_settings(settings))
    assert result.error is None and (await level(rt, a.id)).on_hand == 12
    assert len(fake.paths(LEVELS)) == 3


async def test_four_429s_in_a_row_give_up(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    shop(fake, {a.sku: [5, 7]})
    fake.fail_next(LEVELS, Answer(429, {"errors": "Exceeded"}, {"Retry-After": "0"}), times=4)
    result = await sync_inventory(rt, shopify_from_settings(settings))
    assert result.error and "429" in result.error
    assert (await level(rt, a.id)).on_hand == 1 and len(fake.paths(LEVELS)) == 4


def test_settings_name_what_is_missing_and_refuse_plain_http(settings: Settings) -> None:
    with pytest.raises(ValueError, match="TILLPOINT_INVENTORY_SHOPIFY_LOCATION_IDS"):
        shopify_from_settings(settings.model_copy(update={"inventory_shopify_location_ids": None}))
    with pytest.raises(ValueError, match="https"):
        shopify_from_settings(
            settings.model_copy(update={"inventory_shopify_shop_url": "http://shop.example"})
        )


async def test_cli_sync_applies_levels_and_exits_zero(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    shop(fake, {a.sku: [5, 7], "NOT-OURS": [1, 1]})
    done = await asyncio.to_thread(run_sync, settings, provider_settings(fake), "shopify")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["updated"], summary["unknown_skus"]) == (1, ["NOT-OURS"])
    assert (await level(rt, a.id)).on_hand == 12


async def test_cli_sync_exits_non_zero_on_a_5xx_and_changes_nothing(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    shop(fake, {a.sku: [5, 7]})
    fake.fail_next(ITEMS, Answer(502, "Bad Gateway"))
    done = await asyncio.to_thread(run_sync, settings, provider_settings(fake), "shopify")
    assert done.returncode == 1
    assert "answered 502" in json.loads(done.stdout)["error"]
    assert (await level(rt, a.id)).on_hand == 1
