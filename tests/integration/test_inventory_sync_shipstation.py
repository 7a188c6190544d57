"""`tillpoint inventory sync` from ShipStation, against a loopback stand-in of ShipStation
API v2's inventory (``GET /v2/inventory``, Inventory API add-on; tests/provider_apis.py:
``API-Key`` header, ``inventory`` rows, ``page``/``pages``/``links.next.href`` pagination,
``{"request_id", "errors": [{"error_source", "error_type", "error_code", "message"}]}``
error bodies, 429 with ``Retry-After``). API v1 products carry no stock, so v1 is used for
webhooks only (tests/api/test_inventory_provider_webhooks.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.inventory_support import level, stocked
from tests.provider_apis import (
    HANG,
    SHIPSTATION_KEY,
    Answer,
    FakeProviders,
    provider_settings,
    serve_providers,
)
from tests.sync_cli import run_sync
from tillpoint.config import Settings
from tillpoint.inventory.providers import shipstation_from_settings
from tillpoint.inventory.sync import sync_inventory
from tillpoint.runtime import Runtime

INVENTORY = "/v2/inventory"


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    yield from serve_providers()


@pytest.fixture
def settings_overrides(fake: FakeProviders) -> dict[str, Any]:
    return {**provider_settings(fake), "inventory_provider": "shipstation"}


def row(sku: str, on_hand: int, allocated: int, warehouse: str = "se-1") -> dict[str, Any]:
    return {"sku": sku, "on_hand": on_hand, "allocated": allocated,
            "available": on_hand - allocated,
            "average_cost": {"currency": "usd", "amount": 1.5},
            "inventory_warehouse_id": warehouse,
            "inventory_location_id": f"{warehouse}-loc"}  # fmt: skip


def v2_error(code: str, kind: str, message: str) -> dict[str, Any]:
    return {"request_id": "2f4b1c7e", "errors": [{"error_source": "shipstation",
            "error_type": kind, "error_code": code, "message": message}]}  # fmt: skip


async def test_sync_follows_next_links_sums_rows_and_reports_unknown_skus(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a, b = await stocked(rt, 1), await stocked(rt, 2)
    fake.shipstation.inventory = [
        row(a.sku, 10, 3),
        row(a.sku, 5, 0, "se-2"),
        row(b.sku, 1, 4),
        row("NOT-OURS", 9, 0),
    ]
    fake.shipstation.page_size = 1  # four pages, walked by links.next.href
    result = await sync_inventory(rt, shipstation_from_settings(settings))
    assert result.error is None
    assert result.unknown_skus == ["NOT-OURS"]
    # available (on hand less allocated) summed over warehouses; over-allocated is 0.
    assert [(await level(rt, p.id)).on_hand for p in (a, b)] == [12, 0]
    pages = [s.query.get("page", ["1"])[0] for s in fake.seen]
    assert pages == ["1", "2", "3", "4"]
    assert {s.headers["api-key"] for s in fake.seen} == {SHIPSTATION_KEY}


async def test_a_warehouse_setting_reads_that_warehouse_only(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    fake.shipstation.inventory = [row(a.sku, 10, 3), row(a.sku, 5, 0, "se-2")]
    only = settings.model_copy(update={"inventory_shipstation_warehouse_id": "se-2"})
    result = await sync_inventory(rt, shipstation_from_settings(only))
    assert result.error is None and (await level(rt, a.id)).on_hand == 5
    assert fake.seen[0].query["inventory_warehouse_id"] == ["se-2"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(401, v2_error("unauthorized", "security", "The API key is invalid.")),
         "answered 401: unauthorized: The API key is invalid."),
        (Answer(403, v2_error("unauthorized", "security",
                              "The Inventory API add-on is not enabled.")),
         "answered 403: unauthorized"),
        (Answer(404, v2_error("not_found", "system", "Not found")), "answered 404: not_found"),
        (Answer(400, v2_error("invalid_field_value", "validation", "limit is invalid")),
         "answered 400: invalid_field_value"),
        (Answer(500, v2_error("unspecified", "system", "An unknown error occurred.")),
         "answered 500: unspecified"),
        (Answer(429, v2_error("rate_limit_exceeded", "system", "Too many requests"),
                {"Retry-After": "45"}), "rate limited (429, retry after 45.0s)"),
        (Answer(200, {"inventory": [{"sku": "X", "available": "7"}]}),
         "unreadable inventory page"),
        (Answer(200, {"inventory": [], "links": {"next": {"href": "https://evil.example/v2/x"}}}),
         "a next link to another host"),
        (HANG, "timed out"),
    ],
)  # fmt: skip
async def test_a_failed_read_is_reported_and_changes_nothing(
    rt: Runtime, settings: Settings, fake: FakeProviders, answer: Any, expected: str
) -> None:
    a = await stocked(rt, 1)
    fake.shipstation.inventory = [row(a.sku, 10, 3)]
    fake.fail_next(INVENTORY, answer)
    result = await sync_inventory(rt, shipstation_from_settings(settings))
    assert result.error is not None and expected in result.error, result.error
    assert (result.updated, (await level(rt, a.id)).on_hand) == (0, 1)
    assert all(not s.path.startswith("/x") for s in fake.seen)


async def test_a_failure_on_a_later_page_applies_none_of_the_earlier_pages(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a, b = await stocked(rt, 1), await stocked(rt, 2)
    fake.shipstation.inventory = [row(a.sku, 10, 0), row(b.sku, 20, 0)]
    fake.shipstation.page_size = 1
    fake.fail_next(INVENTORY, Answer(502, "Bad Gateway"), needs="page")
    result = await sync_inventory(rt, shipstation_from_settings(settings))
    assert result.error and "answered 502" in result.error
    assert [(await level(rt, p.id)).on_hand for p in (a, b)] == [1, 2]


async def test_a_429_is_retried_after_the_wait_it_asks_for(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    fake.shipstation.inventory = [row(a.sku, 10, 3)]
    limited = Answer(429, v2_error("rate_limit_exceeded", "system", "Too many requests"),
                     {"Retry-After": "0"})  # fmt: skip
    fake.fail_next(INVENTORY, limited)
    result = await sync_inventory(rt, shipstation_from_settings(settings))
    assert result.error is None and (await level(rt, a.id)).on_hand == 7
    assert len(fake.paths(INVENTORY)) == 2


async def test_cli_sync_applies_levels_and_exits_zero(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    fake.shipstation.inventory = [row(a.sku, 10, 3), row("NOT-OURS", 1, 0)]
    done = await asyncio.to_thread(run_sync, settings, provider_settings(fake), "shipstation")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["updated"], summary["unknown_skus"]) == (1, ["NOT-OURS"])
    assert (await level(rt, a.id)).on_hand == 7


async def test_cli_sync_exits_non_zero_on_a_5xx_and_changes_nothing(
    rt: Runtime, settings: Settings, fake: FakeProviders
) -> None:
    a = await stocked(rt, 1)
    fake.shipstation.inventory = [row(a.sku, 10, 3)]
    fake.fail_next(INVENTORY, Answer(503, v2_error("unspecified", "system", "Unavailable")))
    done = await asyncio.to_thread(run_sync, settings, provider_settings(fake), "shipstation")
    assert done.returncode == 1
    assert "answered 503" in json.loads(done.stdout)["error"]
    assert (await level(rt, a.id)).on_hand == 1


async def test_cli_sync_exits_2_naming_a_missing_key(settings: Settings) -> None:
    done = await asyncio.to_thread(
        run_sync, settings, {"inventory_shipstation_url": "https://api.shipstation.com"},
        "shipstation",
    )  # fmt: skip
    assert done.returncode == 2
    assert "TILLPOINT_INVENTORY_SHIPSTATION_API_KEY" in done.stderr
