"""External inventory systems (the seed's InventorySystemConfig ``primary``).

A provider reports on-hand levels by SKU; ``sync.py`` copies them into our own
``inventory`` table, which stays the fallback and the one place reservations happen.
The generic, Shopify-like JSON API is here; Shopify, WooCommerce and ShipStation have
their own modules. :func:`provider_from_settings` builds the configured one.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from tillpoint.config import InventoryProviderKind, Settings
from tillpoint.inventory.levels import ExternalLevel
from tillpoint.inventory.provider_http import ProviderError, require_https
from tillpoint.inventory.shipstation import ShipStationProvider, ShipStationV1
from tillpoint.inventory.shopify import ShopifyProvider
from tillpoint.inventory.woocommerce import WooCommerceProvider

MAX_PAGES = 1000


class InventoryProvider(Protocol):
    name: str

    async def fetch_levels(self) -> list[ExternalLevel]:
        """Every SKU's on-hand level, as the provider knows it now."""
        ...


class HttpJsonProvider:
    """``GET {url}/inventory_levels?limit=250[&cursor=...]`` with a bearer key, answering
    ``{"inventory_levels": [{"sku": "...", "available": 12}], "next_cursor": "..." | null}``."""

    name = "http_json"

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.transport = transport

    async def fetch_levels(self) -> list[ExternalLevel]:
        levels: list[ExternalLevel] = []
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        async with httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=self.timeout, transport=self.transport
        ) as client:
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                params: dict[str, Any] = {"limit": 250}
                if cursor:
                    params["cursor"] = cursor
                try:
                    r = await client.get("/inventory_levels", params=params)
                except httpx.HTTPError as exc:
                    raise ProviderError(f"request failed: {exc!r}") from exc
                if r.status_code != 200:
                    raise ProviderError(f"answered {r.status_code}")
                page = self._page(r)
                levels.extend(page[0])
                cursor = page[1]
                if not cursor:
                    return levels
        raise ProviderError("too many pages")

    @staticmethod
    def _page(r: httpx.Response) -> tuple[list[ExternalLevel], str | None]:
        try:
            data = r.json()
            items = data["inventory_levels"]
            levels = [ExternalLevel(str(i["sku"]), _whole(i["available"])) for i in items]
            cursor = data.get("next_cursor")
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"unreadable answer: {exc!r}") from exc
        return levels, (str(cursor) if cursor else None)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not a whole number: {value!r}")
    return value


def provider_from_settings(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> InventoryProvider | None:
    """The configured provider, or None when the internal table is the only source.
    Raises ValueError naming the settings a provider lacks."""
    kind = settings.inventory_provider
    if kind is InventoryProviderKind.internal:
        return None
    if kind is InventoryProviderKind.shopify:
        return shopify_from_settings(settings)
    if kind is InventoryProviderKind.woocommerce:
        return woocommerce_from_settings(settings)
    if kind is InventoryProviderKind.shipstation:
        return shipstation_from_settings(settings)
    if not settings.inventory_provider_url or not settings.inventory_provider_api_key:
        raise ValueError(
            "TILLPOINT_INVENTORY_PROVIDER_URL and TILLPOINT_INVENTORY_PROVIDER_API_KEY are needed"
        )
    return HttpJsonProvider(
        settings.inventory_provider_url,
        settings.inventory_provider_api_key,
        timeout=settings.inventory_provider_timeout_seconds,
        transport=transport,
    )


def _needed(settings: Settings, *names: str) -> None:
    missing = [n for n in names if not getattr(settings, n)]
    if missing:
        raise ValueError(" and ".join(f"TILLPOINT_{n.upper()}" for n in missing) + " needed")


def shopify_from_settings(settings: Settings) -> ShopifyProvider:
    names = ("inventory_shopify_shop_url", "inventory_shopify_access_token")
    _needed(settings, *names, "inventory_shopify_location_ids")
    assert settings.inventory_shopify_shop_url and settings.inventory_shopify_access_token
    locations = tuple(int(i) for i in (settings.inventory_shopify_location_ids or "").split(","))
    return ShopifyProvider(
        require_https(settings.inventory_shopify_shop_url, "TILLPOINT_INVENTORY_SHOPIFY_SHOP_URL"),
        settings.inventory_shopify_access_token.get_secret_value(),
        settings.inventory_shopify_api_version,
        locations,
        timeout=settings.inventory_provider_timeout_seconds,
        max_retry_wait=settings.inventory_provider_max_retry_wait_seconds,
    )


def woocommerce_from_settings(settings: Settings) -> WooCommerceProvider:
    _needed(
        settings,
        "inventory_woocommerce_url",
        "inventory_woocommerce_consumer_key",
        "inventory_woocommerce_consumer_secret",
    )
    url, key = settings.inventory_woocommerce_url, settings.inventory_woocommerce_consumer_key
    secret = settings.inventory_woocommerce_consumer_secret
    assert url and key and secret
    return WooCommerceProvider(
        require_https(url, "TILLPOINT_INVENTORY_WOOCOMMERCE_URL"),
        key.get_secret_value(),
        secret.get_secret_value(),
        timeout=settings.inventory_provider_timeout_seconds,
        max_retry_wait=settings.inventory_provider_max_retry_wait_seconds,
    )


def shipstation_from_settings(settings: Settings) -> ShipStationProvider:
    _needed(settings, "inventory_shipstation_api_key")
    assert settings.inventory_shipstation_api_key
    return ShipStationProvider(
        require_https(settings.inventory_shipstation_url, "TILLPOINT_INVENTORY_SHIPSTATION_URL"),
        settings.inventory_shipstation_api_key.get_secret_value(),
        warehouse_id=settings.inventory_shipstation_warehouse_id,
        timeout=settings.inventory_provider_timeout_seconds,
        max_retry_wait=settings.inventory_provider_max_retry_wait_seconds,
    )


def shipstation_v1_from_settings(settings: Settings) -> ShipStationV1:
    _needed(settings, "inventory_shipstation_v1_api_key", "inventory_shipstation_v1_api_secret")
    key = settings.inventory_shipstation_v1_api_key
    secret = settings.inventory_shipstation_v1_api_secret
    assert key and secret
    return ShipStationV1(
        require_https(
            settings.inventory_shipstation_v1_url, "TILLPOINT_INVENTORY_SHIPSTATION_V1_URL"
        ),
        key.get_secret_value(),
        secret.get_secret_value(),
        timeout=settings.inventory_provider_timeout_seconds,
        max_retry_wait=settings.inventory_provider_max_retry_wait_seconds,
    )
