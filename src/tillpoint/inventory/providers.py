"""External inventory systems (the seed's InventorySystemConfig ``primary``).

A provider reports on-hand levels by SKU; ``sync.py`` copies them into our own
``inventory`` table, which stays the fallback and the one place reservations happen.
Shopify, ShipStation or WooCommerce adapters implement the same protocol; the one
shipped here speaks a generic, Shopify-like JSON API.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from tillpoint.config import InventoryProviderKind, Settings
from tillpoint.inventory.levels import ExternalLevel

MAX_PAGES = 1000


class ProviderError(Exception):
    """The provider could not be read (down, refused, or answered nonsense)."""


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
    """The configured provider, or None when the internal table is the only source."""
    if settings.inventory_provider is InventoryProviderKind.internal:
        return None
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
