"""Shopify as the inventory provider: Admin REST API (version from settings, 2024-01 by
default), authenticated by a custom app's ``X-Shopify-Access-Token``.

Shopify keeps levels per inventory item and location, without the SKU; the inventory
item carries its variant's SKU. A sync therefore reads
``inventory_levels.json?location_ids=...`` (``available`` per item and location, with
cursor pagination: ``Link: <...page_info=...>; rel="next"``), then
``inventory_items.json?ids=...`` (100 ids a request) for those items' SKUs, and reports
one level per SKU: the sum over the configured locations. A negative ``available``
(oversold) is reported as 0. (The REST ``/products`` and ``/variants`` endpoints, which
Shopify deprecated in 2024-04 and which return at most 100 variants a product, are not
used.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tillpoint.inventory.levels import ExternalLevel
from tillpoint.inventory.provider_http import Caller, ProviderError, get_json, whole

PAGE_LIMIT = 250  # Shopify's most per page
IDS_PER_REQUEST = 100  # inventory_items.json takes at most 100 ids
MAX_PAGES = 1000
HMAC_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
LEVELS_TOPIC = "inventory_levels/update"


def _describe(r: httpx.Response) -> str:
    """Shopify's error body: ``{"errors": "..."}`` or ``{"errors": {"field": [...]}}``."""
    errors = r.json()["errors"]
    return errors if isinstance(errors, str) else str(errors)


class ShopifyProvider:
    name = "shopify"

    def __init__(
        self,
        shop_url: str,
        access_token: str,
        api_version: str,
        location_ids: tuple[int, ...],
        *,
        timeout: float,
        max_retry_wait: float,
    ) -> None:
        self.base = f"{shop_url}/admin/api/{api_version}"
        self.token = access_token
        self.location_ids = location_ids
        self.timeout = timeout
        self.caller = Caller(self.name, max_retry_wait, _describe)

    def _client(self) -> httpx.AsyncClient:
        headers = {"X-Shopify-Access-Token": self.token, "Accept": "application/json"}
        return httpx.AsyncClient(base_url=self.base, headers=headers, timeout=self.timeout)

    async def fetch_levels(self) -> list[ExternalLevel]:
        """Every SKU's available units over the configured locations."""
        async with self._client() as client:
            totals = await self._totals(client, {"location_ids": self._locations()})
            skus = await self._skus(client, sorted(totals))
        return [ExternalLevel(skus[item], max(n, 0)) for item, n in totals.items() if item in skus]

    async def level_of_item(self, inventory_item_id: int) -> ExternalLevel | None:
        """One inventory item's SKU and level over the configured locations (a webhook
        names the item; the API says what it holds now). None when it has no SKU."""
        async with self._client() as client:
            data, _ = await get_json(
                client, self.caller, f"/inventory_items/{inventory_item_id}.json"
            )
            try:
                sku = data["inventory_item"]["sku"]
            except (KeyError, TypeError) as exc:
                raise ProviderError(f"shopify: unreadable inventory item: {exc!r}") from None
            if not isinstance(sku, str) or not sku.strip():
                return None
            params = {
                "inventory_item_ids": str(inventory_item_id),
                "location_ids": self._locations(),
            }
            totals = await self._totals(client, params)
        return ExternalLevel(sku, max(totals.get(inventory_item_id, 0), 0))

    def _locations(self) -> str:
        return ",".join(str(i) for i in self.location_ids)

    async def _skus(self, client: httpx.AsyncClient, items: list[int]) -> dict[int, str]:
        """inventory_item_id -> SKU, for the items that have one."""
        skus: dict[int, str] = {}
        for start in range(0, len(items), IDS_PER_REQUEST):
            ids = ",".join(str(i) for i in items[start : start + IDS_PER_REQUEST])
            params = {"ids": ids, "limit": IDS_PER_REQUEST}
            data, _ = await get_json(client, self.caller, "/inventory_items.json", params)
            try:
                for item in data["inventory_items"]:
                    if isinstance(item.get("sku"), str) and item["sku"].strip():
                        skus[whole(item["id"])] = item["sku"]
            except (KeyError, TypeError, AttributeError) as exc:
                raise ProviderError(f"shopify: unreadable inventory items: {exc!r}") from None
        return skus

    async def _totals(self, client: httpx.AsyncClient, params: dict[str, str]) -> dict[int, int]:
        """inventory_item_id -> available summed over the locations asked for; a level with
        ``available: null`` (not tracked there) counts for nothing."""
        totals: dict[int, int] = {}
        async for page in self._pages(client, "/inventory_levels.json", params):
            try:
                for lv in page["inventory_levels"]:
                    item = whole(lv["inventory_item_id"])
                    if lv["available"] is not None:
                        totals[item] = totals.get(item, 0) + whole(lv["available"])
            except (KeyError, TypeError) as exc:
                raise ProviderError(f"shopify: unreadable levels page: {exc!r}") from None
        return totals

    async def _pages(
        self, client: httpx.AsyncClient, path: str, params: dict[str, str]
    ) -> AsyncIterator[Any]:
        """Each page's JSON, following ``rel="next"``. Only its ``page_info`` is taken from
        the link (with page_info, Shopify accepts no other filter but ``limit``), so the
        requests never leave the configured shop."""
        query: dict[str, Any] = {**params, "limit": PAGE_LIMIT}
        for _ in range(MAX_PAGES):
            data, r = await get_json(client, self.caller, path, query)
            yield data
            page_info = _next_page_info(r)
            if page_info is None:
                return
            query = {"limit": PAGE_LIMIT, "page_info": page_info}
        raise ProviderError("shopify: too many pages")


def _next_page_info(r: httpx.Response) -> str | None:
    url = r.links.get("next", {}).get("url")
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("page_info")
    if not values or not values[0]:
        raise ProviderError("shopify: a next link without page_info")
    return values[0]


def hmac_of(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256`` for ``body``: base64 of its HMAC-SHA256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(secret: str, body: bytes, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(hmac_of(secret, body), given or "")
