"""`tillpoint inventory sync` from WooCommerce, against a loopback stand-in of the WooCommerce
REST API v3 (tests/provider_apis.py: ``/wp-json/wc/v3/products`` and
``products/{id}/variations`` with ``per_page``/``page``, ``X-WP-Total``/``X-WP-TotalPages``,
Basic auth with the consumer key and secret, WordPress ``{"code", "message", "data"}``
error bodies)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories
from tests.inventory_support import level, stocked
from tests.provider_apis import (
    HANG,
    WOO_KEY,
    WOO_SECRET,
    Answer,
    FakeProviders,
    provider_settings,
    serve_providers,
)
from tests.sync_cli import run_sync
from tillpoint.config import Settings
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.providers import woocommerce_from_settings
from tillpoint.inventory.sync import sync_inventory
from tillpoint.runtime import Runtime

PRODUCTS = "/wp-json/wc/v3/products"


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    yield from serve_providers()


@pytest.fixture
def settings_overrides(fake: FakeProviders) -> dict[str, Any]:
    return {**provider_settings(fake), "inventory_provider": "woocommerce"}


def simple(pid: int, sku: str, qty: int | None, manage: Any = True) -> dict[str, Any]:
    return {"id": pid, "name": sku, "type": "simple", "sku": sku, "manage_stock": manage,
            "stock_quantity": qty, "stock_status": "instock", "variations": []}  # fmt: skip


async def test_sync_walks_every_page_and_variation_and_reports_unknown_skus(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a, b = await stocked(rt, 1), await stocked(rt, 2)
    shirt = await factories.product(
        rt, variants=[{"sku": "SHIRT-S", "attributes": {"size": "S"}},
                      {"sku": "SHIRT-M", "attributes": {"size": "M"}}],
    )  # fmt: skip
    small, medium = sorted(shirt.variants, key=lambda v: v.sku, reverse=True)
    fake.woo.products = [
        simple(11, a.sku, 8),
        simple(12, b.sku, -3),  # oversold (backorders): nothing to sell
        simple(13, "UNTRACKED", None, manage=False),
        {"id": 14, "type": "variable", "sku": "", "manage_stock": False,
         "stock_quantity": None, "variations": [141, 142, 143]},
        simple(15, "NOT-OURS", 4),
    ]  # fmt: skip
    fake.woo.variations = {14: [
        {"id": 141, "sku": "SHIRT-S", "manage_stock": True, "stock_quantity": 6},
        {"id": 142, "sku": "SHIRT-M", "manage_stock": True, "stock_quantity": 2},
        {"id": 143, "sku": "SHIRT-L", "manage_stock": "parent", "stock_quantity": 9},
    ]}  # fmt: skip
    fake.woo.page_size = 2  # three product pages, two variation pages
    result = await sync_inventory(rt, woocommerce_from_settings(settings))
    assert result.error is None
    assert result.unknown_skus == ["NOT-OURS"]
    assert [(await level(rt, p.id)).on_hand for p in (a, b)] == [8, 0]
    assert (await level(rt, shirt.id, small.id)).on_hand == 6
    assert (await level(rt, shirt.id, medium.id)).on_hand == 2
    pages = [s.query["page"] for s in fake.seen if s.path == PRODUCTS]
    assert pages == [["1"], ["2"], ["3"]]
    assert len(fake.paths(f"{PRODUCTS}/14/variations")) == 2
    auth = "Basic " + base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
    assert {s.headers["authorization"] for s in fake.seen} == {auth}
    assert {s.query["per_page"][0] for s in fake.seen} == {"100"}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(401, {"code": "woocommerce_rest_authentication_error",
                      "message": "Consumer key is invalid.", "data": {"status": 401}}),
         "answered 401: woocommerce_rest_authentication_error: Consumer key is invalid."),
        (Answer(403, {"code": "woocommerce_rest_cannot_view",
                      "message": "Sorry, you cannot list resources.", "data": {"status": 403}}),
         "answered 403: woocommerce_rest_cannot_view"),
        (Answer(404, {"code": "rest_no_route", "message": "No route was found matching the "
                      "URL and request method.", "data": {"status": 404}}),
         "answered 404: rest_no_route"),
        (Answer(400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): page",
                      "data": {"status": 400}}), "answered 400: rest_invalid_param"),
        (Answer(500, {"code": "internal_server_error", "message": "There has been a critical "
                      "error on this website.", "data": {"status": 500}}),
         "answered 500: internal_server_error"),
        (Answer(429, "Too Many Requests", {"Retry-After": "120"}),
         "rate limited (429, retry after 120.0s)"),
        (Answer(200, {"not": "a list"}), "a listing that is not a list"),
        (Answer(200, []), "no X-WP-TotalPages header"),
        (HANG, "timed out"),
    ],
)  # fmt: skip
async def test_a_failed_read_is_reported_and_changes_nothing(
    rt: Runtime, settings: Settings, fake: FakeProviders, answer: Any, expected: str
) -> None:
    a = await stocked(rt, 1)
    fake.woo.products = [simple(11, a.sku, 8)]
    fake.fail_next(PRODUCTS, answer)
    result = await sync_inventory(rt, woocommerce_from_settings(settings))
    assert result.error is not None and expected in result.error, result.error
    assert (result.updated, (await level(rt, a.id)).on_hand) == (0, 1)


async def test_a_failure_on_a_later_page_applies_none_of_the_earlier_pages(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a, b = await stocked(rt, 1), await stocked(rt, 2)
    fake.woo.products = [simple(11, a.sku, 8), simple(12, b.sku, 9)]
    # Page 1 of 2 is answered; page 2 fails.
    fake.fail_next(PRODUCTS, Answer(200, [simple(11, a.sku, 8)], {"X-WP-TotalPages": "2"}))
    fake.fail_next(PRODUCTS, Answer(503, "<html>Service Unavailable</html>"))
    result = await sync_inventory(rt, woocommerce_from_settings(settings))
    assert result.error and "answered 503" in result.error
    assert [(await level(rt, p.id)).on_hand for p in (a, b)] == [1, 2]


async def test_a_429_is_retried_after_the_wait_it_asks_for(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    fake.woo.products = [simple(11, a.sku, 8)]
    fake.fail_next(PRODUCTS, Answer(429, "Too Many Requests", {"Retry-After": "0"}))
    result = await sync_inventory(rt, woocommerce_from_settings(settings))
    assert result.error is None and (await level(rt, a.id)).on_hand == 8
    assert len(fake.paths(PRODUCTS)) == 2


async def test_a_level_over_the_maximum_is_reported_and_the_rest_applied(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a, b = await stocked(rt, 1), await stocked(rt, 2)
    fake.woo.products = [simple(11, a.sku, 10**8), simple(12, b.sku, 9)]
    result = await sync_inventory(rt, woocommerce_from_settings(settings))
    assert (result.error, result.invalid_skus, result.updated) == (None, [a.sku], 1)
    assert [(await level(rt, p.id)).on_hand for p in (a, b)] == [1, 9]


def test_consumer_keys_are_sent_over_https_only(settings: Settings) -> None:
    plain = settings.model_copy(update={"inventory_woocommerce_url": "http://shop.example.com"})
    with pytest.raises(ValueError, match="https"):
        woocommerce_from_settings(plain)
    bare = settings.model_copy(update={"inventory_woocommerce_consumer_secret": None})
    with pytest.raises(ValueError, match="TILLPOINT_INVENTORY_WOOCOMMERCE_CONSUMER_SECRET"):
        woocommerce_from_settings(bare)


async def test_an_untouched_level_is_not_rewritten(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 8)
    fake.woo.products = [simple(11, a.sku, 8)]
    result = await sync_inventory(rt, woocommerce_from_settings(settings))
    assert (result.error, result.updated) == (None, 0)
    await adjust_stock(rt, a.id, on_hand=3, reason="count")
    result = await sync_inventory(rt, woocommerce_from_settings(settings))
    assert result.updated == 1 and (await level(rt, a.id)).on_hand == 8


async def test_cli_sync_applies_levels_and_exits_zero(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    fake.woo.products = [simple(11, a.sku, 8), simple(12, "NOT-OURS", 1)]
    done = await asyncio.to_thread(run_sync, settings, provider_settings(fake), "woocommerce")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["updated"], summary["unknown_skus"]) == (1, ["NOT-OURS"])
    assert (await level(rt, a.id)).on_hand == 8


async def test_cli_sync_exits_non_zero_on_a_5xx_and_changes_nothing(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    fake.woo.products = [simple(11, a.sku, 8)]
    fake.fail_next(PRODUCTS, Answer(500, {"code": "internal_server_error", "message": "x",
                                          "data": {"status": 500}}))  # fmt: skip
    done = await asyncio.to_thread(run_sync, settings, provider_settings(fake), "woocommerce")
    assert done.returncode == 1
    assert "answered 500" in json.loads(done.stdout)["error"]
    assert (await level(rt, a.id)).on_hand == 1
