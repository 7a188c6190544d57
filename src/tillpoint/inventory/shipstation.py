"""ShipStation as the inventory provider.

Stock levels live in ShipStation API v2's inventory (the Inventory API add-on):
``GET /v2/inventory`` with the ``API-Key`` header answers ``{"inventory": [{"sku",
"on_hand", "allocated", "available", "inventory_warehouse_id",
"inventory_location_id"}], "total", "page", "pages", "links": {"next": {"href"}}}``; a
SKU's level is its ``available`` (on hand less what ShipStation allocated to orders)
summed over its rows. (API v1's products carry no stock.)

ShipStation's webhooks are API v1's: an unsigned ``{"resource_url", "resource_type"}``.
They are authenticated by a secret token in our URL instead, and the resource is read
back from the configured v1 host only, with the v1 key and secret (Basic auth); the SKUs
of its orders or shipments are then looked up in the v2 inventory.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tillpoint.inventory.levels import ExternalLevel
from tillpoint.inventory.provider_http import Caller, ProviderError, get_json, whole

PAGE_LIMIT = 500
MAX_PAGES = 1000
MAX_WEBHOOK_SKUS = 100
RESOURCE_TYPES = frozenset({"ORDER_NOTIFY", "ITEM_ORDER_NOTIFY", "SHIP_NOTIFY", "ITEM_SHIP_NOTIFY"})


def _describe_v2(r: httpx.Response) -> str:
    """v2 errors: ``{"request_id", "errors": [{"error_source", "error_type",
    "error_code", "message"}]}``."""
    first = r.json()["errors"][0]
    return f"{first['error_code']}: {first['message']}"


def _describe_v1(r: httpx.Response) -> str:
    """v1 errors: ``{"Message": "...", "ExceptionMessage": ...}`` (or a bare text)."""
    try:
        return str(r.json()["Message"])
    except ValueError:
        return r.text


class ShipStationProvider:
    name = "shipstation"

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        warehouse_id: str | None,
        timeout: float,
        max_retry_wait: float,
    ) -> None:
        self.base = url
        self.host = urlsplit(url).netloc
        self.api_key = api_key
        self.warehouse_id = warehouse_id
        self.timeout = timeout
        self.caller = Caller(self.name, max_retry_wait, _describe_v2)

    def _client(self) -> httpx.AsyncClient:
        headers = {"API-Key": self.api_key, "Accept": "application/json"}
        return httpx.AsyncClient(base_url=self.base, headers=headers, timeout=self.timeout)

    async def fetch_levels(self) -> list[ExternalLevel]:
        async with self._client() as client:
            totals = await self._totals(client, {})
        return [ExternalLevel(sku, max(n, 0)) for sku, n in totals.items()]

    async def levels_of(self, skus: list[str]) -> list[ExternalLevel]:
        """The current level of each of these SKUs that ShipStation stocks."""
        totals: dict[str, int] = {}
        async with self._client() as client:
            for sku in skus:
                found = await self._totals(client, {"sku": sku})
                if sku in found:
                    totals[sku] = found[sku]
        return [ExternalLevel(sku, max(n, 0)) for sku, n in totals.items()]

    async def _totals(self, client: httpx.AsyncClient, filters: dict[str, str]) -> dict[str, int]:
        params: dict[str, Any] = {**filters, "limit": PAGE_LIMIT}
        if self.warehouse_id:
            params["inventory_warehouse_id"] = self.warehouse_id
        totals: dict[str, int] = {}
        url: str = "/v2/inventory"
        query: dict[str, Any] | None = params
        for _ in range(MAX_PAGES):
            data, _ = await get_json(client, self.caller, url, query)
            try:
                for row in data["inventory"]:
                    sku = row["sku"]
                    if isinstance(sku, str) and sku.strip():
                        totals[sku] = totals.get(sku, 0) + whole(row["available"])
                nxt = ((data.get("links") or {}).get("next") or {}).get("href")
            except (KeyError, TypeError, AttributeError) as exc:
                raise ProviderError(f"shipstation: unreadable inventory page: {exc!r}") from None
            if not nxt:
                return totals
            url, query = self._same_host(nxt), None
        raise ProviderError("shipstation: too many pages")

    def _same_host(self, href: str) -> str:
        """The next page's path and query; a link to another host is not followed."""
        parts = urlsplit(href)
        if parts.netloc and parts.netloc != self.host:
            raise ProviderError("shipstation: a next link to another host")
        return parts.path + (f"?{parts.query}" if parts.query else "")


class ShipStationV1:
    """Reads a webhook's ``resource_url`` back from the v1 host, and nowhere else."""

    def __init__(
        self, url: str, key: str, secret: str, *, timeout: float, max_retry_wait: float
    ) -> None:
        self.scheme_host = (urlsplit(url).scheme, urlsplit(url).netloc)
        self.auth = httpx.BasicAuth(key, secret)
        self.timeout = timeout
        self.caller = Caller("shipstation", max_retry_wait, _describe_v1)

    def trusts(self, resource_url: str) -> bool:
        parts = urlsplit(resource_url)
        return (parts.scheme, parts.netloc) == self.scheme_host and not parts.username

    async def skus_of(self, resource_url: str) -> list[str]:
        """The SKUs of the orders' or shipments' items the resource lists."""
        if not self.trusts(resource_url):
            raise ValueError("resource_url is not on the ShipStation host")
        async with httpx.AsyncClient(auth=self.auth, timeout=self.timeout) as client:
            data, _ = await get_json(client, self.caller, resource_url)
        try:
            return _resource_skus(data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProviderError(f"shipstation: unreadable resource: {exc!r}") from None


def _resource_skus(data: Any) -> list[str]:
    """SKUs of ``orders[].items[]`` (ORDER_NOTIFY) or ``shipments[].shipmentItems[]``
    (SHIP_NOTIFY; null unless the webhook includes items), in first-seen order."""
    items: list[Any] = []
    for order in data.get("orders") or []:
        items.extend(order.get("items") or [])
    for shipment in data.get("shipments") or []:
        items.extend(shipment.get("shipmentItems") or [])
    seen: dict[str, None] = {}
    for item in items:
        sku = item.get("sku")
        if isinstance(sku, str) and sku.strip():
            seen[sku] = None
    return list(seen)
