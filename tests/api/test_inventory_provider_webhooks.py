"""The providers' stock webhooks over HTTP (in-process app), with the providers' APIs they
read back served on loopback (tests/provider_apis.py). Versions followed:

- Shopify: webhook topic ``inventory_levels/update`` of Admin API 2024-01 (body
  ``{"inventory_item_id", "location_id", "available", "updated_at",
  "admin_graphql_api_id"}``; headers ``X-Shopify-Topic``, ``X-Shopify-Hmac-Sha256`` =
  base64 HMAC-SHA256 of the raw body, ``X-Shopify-Shop-Domain``, ``X-Shopify-Webhook-Id``,
  ``X-Shopify-API-Version``); read back through REST 2024-01.
- WooCommerce: webhooks of REST API v3 (``X-WC-Webhook-Topic``, ``-Resource``, ``-Event``,
  ``-Signature`` = base64 HMAC-SHA256 of the raw body, ``-ID``, ``-Delivery-ID``; the body
  is the product or variation as ``/wp-json/wc/v3`` returns it; the ``webhook_id=N`` ping).
- ShipStation: API v1 webhooks (unsigned ``{"resource_url", "resource_type"}``, the
  resource read with v1 Basic auth; v1 429s carry ``X-Rate-Limit-*``), levels from API
  v2 ``/v2/inventory``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories
from tests.inventory_support import level, stocked
from tests.provider_apis import (
    HANG,
    SS_V1_KEY,
    Answer,
    FakeProviders,
    provider_settings,
    serve_providers,
)
from tests.support import Api, error_code
from tillpoint.audit.queries import AuditLogFilters, query_logs
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.shopify import hmac_of
from tillpoint.inventory.woocommerce import signature_of
from tillpoint.runtime import Runtime

SHOPIFY_SECRET = "shpss_loopback_app_secret_0123456789"
WOO_SECRET = "woo webhook secret 0123456789"
TOKEN = "ss_token_Qm9vbGVhbjEyMzQ1Njc4OTAx"
LOC_A, LOC_B = 655441491, 655441492
SHOPIFY_URL = "/api/inventory/webhooks/shopify"
WOO_URL = "/api/inventory/webhooks/woocommerce"
SS_URL = f"/api/inventory/webhooks/shipstation/{TOKEN}"


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    yield from serve_providers()


@pytest.fixture
def settings_overrides(fake: FakeProviders) -> dict[str, Any]:
    return {
        **provider_settings(fake),
        "inventory_shopify_webhook_secret": SHOPIFY_SECRET,
        "inventory_woocommerce_webhook_secret": WOO_SECRET,
        "inventory_shipstation_webhook_token": TOKEN,
    }


# --- Shopify --------------------------------------------------------------------------------


def shop(fake: FakeProviders, sku: str, at_a: int, at_b: int) -> None:
    fake.shopify.products = [{"id": 1, "variants": [
        {"id": 2, "sku": sku, "inventory_item_id": 808950810}]}]  # fmt: skip
    fake.shopify.levels = [
        {"inventory_item_id": 808950810, "location_id": LOC_A, "available": at_a},
        {"inventory_item_id": 808950810, "location_id": LOC_B, "available": at_b},
    ]


def shopify_delivery(
    body: Any, *, secret: str = SHOPIFY_SECRET, topic: str = "inventory_levels/update"
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": hmac_of(secret, raw),
        "x-shopify-shop-domain": "example.myshopify.com",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "x-shopify-api-version": "2024-01",
    }


LEVEL_UPDATE = {"inventory_item_id": 808950810, "location_id": LOC_A, "available": 6,
                "updated_at": "2024-01-02T10:00:00-05:00",
                "admin_graphql_api_id": "gid://shopify/InventoryLevel/655441491?inventory_item_id=808950810"}  # fmt: skip  # noqa: E501


async def test_shopify_delivery_applies_the_level_read_back_once(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    p = await stocked(rt, 1)
    shop(fake, p.sku, 6, 4)
    raw, headers = shopify_delivery(LEVEL_UPDATE)
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied" and r.json()["applied"] == 1
    assert (await level(rt, p.id)).on_hand == 10  # both configured locations, from the API
    asked = [s.path for s in fake.seen]
    assert asked == ["/admin/api/2024-01/inventory_items/808950810.json",
                     "/admin/api/2024-01/inventory_levels.json"]  # fmt: skip
    await adjust_stock(rt, p.id, on_hand=3, reason="count")
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert r.json()["status"] == "duplicate"
    assert (await level(rt, p.id)).on_hand == 3 and len(fake.seen) == 2


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("bad_hmac", 401, "invalid_signature"),
        ("other_secret", 401, "invalid_signature"),
        ("no_hmac", 401, "missing_signature"),
        ("edited_body", 401, "invalid_signature"),
        ("not_json", 400, "malformed_json"),
        ("no_item", 422, "invalid_request"),
        ("string_item", 422, "invalid_request"),
    ],
)
async def test_shopify_refusals_apply_nothing_and_read_nothing(
    api: Api, rt: Runtime, fake: FakeProviders, case: str, status: int, code: str
) -> None:
    p = await stocked(rt, 1)
    shop(fake, p.sku, 6, 4)
    body: Any = dict(LEVEL_UPDATE)
    if case == "no_item":
        del body["inventory_item_id"]
    if case == "string_item":
        body["inventory_item_id"] = "808950810"
    if case == "not_json":
        body = b"{not json"
    raw, headers = shopify_delivery(
        body, secret="someone else's secret 000" if case == "other_secret" else SHOPIFY_SECRET
    )
    if case == "bad_hmac":
        headers["x-shopify-hmac-sha256"] = "AAAA" + headers["x-shopify-hmac-sha256"][4:]
    if case == "no_hmac":
        del headers["x-shopify-hmac-sha256"]
    if case == "edited_body":
        raw = raw.replace(b'"available": 6', b'"available": 60')
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert (r.status_code, error_code(r)) == (status, code), r.text
    assert (await level(rt, p.id)).on_hand == 1 and fake.seen == []


async def test_shopify_other_topics_and_locations_are_acknowledged_and_ignored(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    p = await stocked(rt, 1)
    shop(fake, p.sku, 6, 4)
    raw, headers = shopify_delivery(LEVEL_UPDATE, topic="products/update")
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert (r.status_code, r.json()["status"]) == (200, "ignored")
    raw, headers = shopify_delivery({**LEVEL_UPDATE, "location_id": 31337})
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert (r.status_code, r.json()["status"]) == (200, "ignored")
    assert (await level(rt, p.id)).on_hand == 1 and fake.seen == []


@pytest.mark.parametrize(
    "answer",
    [Answer(500, {"errors": "Internal Server Error"}), HANG,
     Answer(429, {"errors": "Exceeded 2 calls per second"}, {"Retry-After": "30.0"})],
)  # fmt: skip
async def test_shopify_read_back_failure_is_a_503_and_a_redelivery_applies(
    api: Api, rt: Runtime, fake: FakeProviders, answer: Any
) -> None:
    p = await stocked(rt, 1)
    shop(fake, p.sku, 6, 4)
    fake.fail_next("/admin/api/2024-01/inventory_levels.json", answer)
    raw, headers = shopify_delivery(LEVEL_UPDATE)
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert (r.status_code, error_code(r)) == (503, "provider_unavailable"), r.text
    assert (await level(rt, p.id)).on_hand == 1
    # Not recorded: Shopify's retry of the same delivery is applied.
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert r.json()["status"] == "applied" and (await level(rt, p.id)).on_hand == 10


async def test_shopify_unknown_sku_is_reported_not_refused(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    shop(fake, "NOT-OURS", 6, 4)
    raw, headers = shopify_delivery(LEVEL_UPDATE)
    r = await api.client.post(SHOPIFY_URL, content=raw, headers=headers)
    assert r.status_code == 200
    assert (r.json()["applied"], r.json()["unknown_skus"]) == (0, ["NOT-OURS"])


async def test_a_body_over_the_cap_is_refused_before_it_is_read(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    big = {**LEVEL_UPDATE, "pad": "x" * (rt.settings.max_body_bytes + 1)}
    for url in (SHOPIFY_URL, WOO_URL, SS_URL):
        raw, headers = shopify_delivery(big)
        r = await api.client.post(url, content=raw, headers=headers)
        assert (r.status_code, error_code(r)) == (413, "payload_too_large")
    assert fake.seen == []


async def test_an_unconfigured_provider_webhook_answers_503(api: Api, rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(
        update={"inventory_shopify_webhook_secret": None,
                "inventory_woocommerce_webhook_secret": None,
                "inventory_shipstation_webhook_token": None}
    )  # fmt: skip
    for url in (SHOPIFY_URL, WOO_URL, SS_URL):
        raw, headers = shopify_delivery(LEVEL_UPDATE)
        r = await api.client.post(url, content=raw, headers=headers)
        assert (r.status_code, error_code(r)) == (503, "webhook_not_configured"), url


# --- WooCommerce ----------------------------------------------------------------------------


def woo_delivery(
    body: Any, *, topic: str = "product.updated", secret: str = WOO_SECRET
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {
        "content-type": "application/json",
        "x-wc-webhook-source": "https://shop.example.com/",
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": topic.split(".")[0],
        "x-wc-webhook-event": topic.split(".")[1],
        "x-wc-webhook-signature": signature_of(secret, raw),
        "x-wc-webhook-id": "12",
        "x-wc-webhook-delivery-id": "8d5a4c2f3b0e1a",
    }


def woo_product(sku: str, qty: Any, manage: Any = True) -> dict[str, Any]:
    return {"id": 794, "name": "Premium Quality", "type": "simple", "status": "publish",
            "sku": sku, "price": "21.99", "manage_stock": manage, "stock_quantity": qty,
            "stock_status": "instock", "date_modified_gmt": "2024-01-02T10:00:00",
            "variations": []}  # fmt: skip


async def test_woocommerce_product_update_applies_its_stock_once(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    p = await stocked(rt, 1)
    raw, headers = woo_delivery(woo_product(p.sku, 14))
    r = await api.client.post(WOO_URL, content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["applied"]) == ("applied", 1)
    assert (await level(rt, p.id)).on_hand == 14
    # The same path as every external level: one stock_synced audit row, by source.
    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["stock_synced"]))
    assert [(r.entity_id, r.meta["levels"]) for r in rows] == [("webhook:woocommerce", {p.sku: 14})]
    await adjust_stock(rt, p.id, on_hand=3, reason="count")
    r = await api.client.post(WOO_URL, content=raw, headers=headers)
    assert r.json()["status"] == "duplicate" and (await level(rt, p.id)).on_hand == 3
    assert fake.seen == []  # the signed body is the product: nothing to read back


async def test_woocommerce_variation_update_sets_the_variant(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    shirt = await factories.product(rt, variants=[{"sku": "TEE-RED"}])
    variation = {"id": 795, "parent_id": 794, "sku": "TEE-RED", "manage_stock": True,
                 "stock_quantity": 5, "type": "variation"}  # fmt: skip
    raw, headers = woo_delivery(variation)
    r = await api.client.post(WOO_URL, content=raw, headers=headers)
    assert r.json()["applied"] == 1
    assert (await level(rt, shirt.id, shirt.variants[0].id)).on_hand == 5


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("bad_signature", 401, "invalid_signature"),
        ("no_signature", 401, "missing_signature"),
        ("other_secret", 401, "invalid_signature"),
        ("not_json", 400, "malformed_json"),
        ("float_stock", 422, "invalid_request"),
        ("huge_stock", 422, "stock_too_large"),
    ],
)
async def test_woocommerce_refusals_apply_nothing(
    api: Api, rt: Runtime, case: str, status: int, code: str
) -> None:
    p = await stocked(rt, 1)
    qty: Any = {"float_stock": 2.5, "huge_stock": 10**9}.get(case, 7)
    body: Any = b"{oops" if case == "not_json" else woo_product(p.sku, qty)
    raw, headers = woo_delivery(
        body, secret="an entirely different secret" if case == "other_secret" else WOO_SECRET
    )
    if case == "bad_signature":
        headers["x-wc-webhook-signature"] = signature_of(WOO_SECRET, raw + b" ")
    if case == "no_signature":
        del headers["x-wc-webhook-signature"]
    r = await api.client.post(WOO_URL, content=raw, headers=headers)
    assert (r.status_code, error_code(r)) == (status, code), r.text
    assert (await level(rt, p.id)).on_hand == 1


async def test_woocommerce_ping_other_topics_and_untracked_products_change_nothing(
    api: Api, rt: Runtime
) -> None:
    p = await stocked(rt, 1)
    ping = await api.client.post(
        WOO_URL, content=b"webhook_id=12",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert (ping.status_code, ping.json()["status"]) == (200, "ping")
    for topic, body in (("product.deleted", woo_product(p.sku, 9)),
                        ("product.updated", woo_product(p.sku, None, manage=False))):  # fmt: skip
        raw, headers = woo_delivery(body, topic=topic)
        r = await api.client.post(WOO_URL, content=raw, headers=headers)
        assert (r.status_code, r.json()["status"]) == (200, "ignored")
    assert (await level(rt, p.id)).on_hand == 1


# --- ShipStation ----------------------------------------------------------------------------


def notify(fake: FakeProviders, url: str | None = None, kind: str = "SHIP_NOTIFY") -> bytes:
    resource = (
        url or f"{fake.url}/shipments?storeID=123456&batchId=12345678&includeShipmentItems=True"
    )
    return json.dumps({"resource_url": resource, "resource_type": kind}).encode()


def ss_stock(fake: FakeProviders, sku: str, available: int) -> None:
    fake.shipstation.inventory = [{"sku": sku, "on_hand": available + 1, "allocated": 1,
                                   "available": available, "inventory_warehouse_id": "se-1",
                                   "inventory_location_id": "se-1-a"}]  # fmt: skip
    items = [{"sku": sku, "quantity": 1}, {"sku": "NOT-OURS", "quantity": 2}]
    fake.shipstation.shipments = [
        {"shipmentId": 33974374, "orderNumber": "100038", "shipmentItems": items}
    ]


async def test_shipstation_notice_reads_the_resource_then_the_levels_once(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    p = await stocked(rt, 1)
    ss_stock(fake, p.sku, 9)
    raw = notify(fake)
    r = await api.client.post(SS_URL, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["applied"]) == ("applied", 1)
    assert r.json()["unknown_skus"] == ["NOT-OURS"]
    assert (await level(rt, p.id)).on_hand == 9
    v1, v2 = fake.seen
    assert v1.path == "/shipments" and v1.headers["authorization"].startswith("Basic ")
    assert v2.path == "/v2/inventory" and v2.query["sku"] == [p.sku]  # ours only
    r = await api.client.post(SS_URL, content=raw, headers={"content-type": "application/json"})
    assert r.json()["status"] == "duplicate" and len(fake.seen) == 2


@pytest.mark.parametrize(
    "resource",
    [
        "https://evil.example/shipments?x=1",
        "http://127.0.0.1:9/shipments",  # the same address, another port
        "http://attacker@127.0.0.1:{port}/shipments",
        "file:///etc/passwd",
    ],
)
async def test_shipstation_resource_urls_off_the_configured_host_are_never_fetched(
    api: Api, rt: Runtime, fake: FakeProviders, resource: str
) -> None:
    p = await stocked(rt, 1)
    ss_stock(fake, p.sku, 9)
    url = resource.format(port=fake.url.rsplit(":", 1)[1])
    r = await api.client.post(SS_URL, content=notify(fake, url))
    assert (r.status_code, error_code(r)) == (422, "untrusted_resource_url")
    assert fake.seen == [] and (await level(rt, p.id)).on_hand == 1


async def test_shipstation_wrong_token_is_refused_and_nothing_is_fetched(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    p = await stocked(rt, 1)
    ss_stock(fake, p.sku, 9)
    r = await api.client.post(SS_URL[:-1] + "X", content=notify(fake))
    assert (r.status_code, error_code(r)) == (401, "invalid_token")
    assert fake.seen == [] and (await level(rt, p.id)).on_hand == 1


@pytest.mark.parametrize(
    ("prefix", "answer"),
    [
        ("/shipments", Answer(429, {"Message": "Too many requests"},
                              {"X-Rate-Limit-Limit": "40", "X-Rate-Limit-Remaining": "0",
                               "X-Rate-Limit-Reset": "37"})),
        ("/shipments", Answer(401, "401 Unauthorized")),
        ("/shipments", Answer(500, {"Message": "An error has occurred."})),
        ("/shipments", HANG),
        ("/v2/inventory", Answer(503, {"request_id": "r", "errors": [
            {"error_source": "shipstation", "error_type": "system",
             "error_code": "unspecified", "message": "Unavailable"}]})),
    ],
)  # fmt: skip
async def test_shipstation_read_failures_are_503_and_change_nothing(
    api: Api, rt: Runtime, fake: FakeProviders, prefix: str, answer: Any
) -> None:
    p = await stocked(rt, 1)
    ss_stock(fake, p.sku, 9)
    fake.fail_next(prefix, answer)
    r = await api.client.post(SS_URL, content=notify(fake))
    assert (r.status_code, error_code(r)) == (503, "provider_unavailable"), r.text
    assert (await level(rt, p.id)).on_hand == 1


async def test_shipstation_v1_rate_limit_reset_within_the_bound_is_waited_for(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    p = await stocked(rt, 1)
    ss_stock(fake, p.sku, 9)
    limited = Answer(429, {"Message": "Too many requests"},
                     {"X-Rate-Limit-Limit": "40", "X-Rate-Limit-Remaining": "0",
                      "X-Rate-Limit-Reset": "0"})  # fmt: skip
    fake.fail_next("/shipments", limited)
    r = await api.client.post(SS_URL, content=notify(fake))
    assert r.json()["status"] == "applied" and (await level(rt, p.id)).on_hand == 9
    assert fake.paths("/shipments") == ["/shipments", "/shipments"]


async def test_shipstation_other_resource_types_are_ignored(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    r = await api.client.post(SS_URL, content=notify(fake, kind="FULFILLMENT_REJECTED"))
    assert (r.status_code, r.json()["status"]) == (200, "ignored") and fake.seen == []
    assert SS_V1_KEY not in r.text


async def test_failed_checks_are_audited_per_provider(
    api: Api, rt: Runtime, fake: FakeProviders
) -> None:
    raw, headers = shopify_delivery(LEVEL_UPDATE, secret="not the app's secret at all")
    assert (await api.client.post(SHOPIFY_URL, content=raw, headers=headers)).status_code == 401
    raw, headers = woo_delivery(woo_product("X", 1), secret="not the webhook's secret")
    assert (await api.client.post(WOO_URL, content=raw, headers=headers)).status_code == 401
    assert (await api.client.post(SS_URL + "x", content=notify(fake))).status_code == 401
    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["webhook_signature_failed"]))
    assert sorted((r.meta["webhook"], r.meta["reason"]) for r in rows) == [
        ("shipstation-inventory", "invalid_token"),
        ("shopify-inventory", "invalid_signature"),
        ("woocommerce-inventory", "invalid_signature"),
    ]
