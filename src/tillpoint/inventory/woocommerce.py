"""WooCommerce as the inventory provider: the REST API v3 (``/wp-json/wc/v3``), with the
consumer key and secret as HTTP Basic credentials, which WooCommerce accepts over HTTPS
only (``provider_http.require_https``).

A sync walks ``products?per_page=100&page=N`` up to the ``X-WP-TotalPages`` header and,
for each ``variable`` product, its ``products/{id}/variations`` the same way. A product
or variation counts when it has a SKU and manages its own stock (``manage_stock: true``,
``stock_quantity`` a whole number); a variation whose stock is its parent's
(``manage_stock: "parent"``) and untracked products are left alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx

from tillpoint.inventory.levels import ExternalLevel
from tillpoint.inventory.provider_http import Caller, ProviderError, get_json, whole

PER_PAGE = 100  # WooCommerce's most per page
MAX_PAGES = 1000
SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"


def _describe(r: httpx.Response) -> str:
    """WordPress REST errors: ``{"code": "...", "message": "...", "data": {"status": n}}``."""
    data = r.json()
    return f"{data['code']}: {data['message']}"


def level_of(item: Any) -> ExternalLevel | None:
    """A product's or variation's level, when it has a SKU and manages its own stock."""
    if not isinstance(item, dict) or item.get("manage_stock") is not True:
        return None
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        return None
    return ExternalLevel(sku, max(whole(item.get("stock_quantity")), 0))


class WooCommerceProvider:
    name = "woocommerce"

    def __init__(
        self, site_url: str, key: str, secret: str, *, timeout: float, max_retry_wait: float
    ) -> None:
        self.base = f"{site_url}/wp-json/wc/v3"
        self.auth = httpx.BasicAuth(key, secret)
        self.timeout = timeout
        self.caller = Caller(self.name, max_retry_wait, _describe)

    async def fetch_levels(self) -> list[ExternalLevel]:
        levels: list[ExternalLevel] = []
        async with httpx.AsyncClient(
            base_url=self.base, auth=self.auth, timeout=self.timeout,
            headers={"Accept": "application/json"},
        ) as client:  # fmt: skip
            for product in await self._all(client, "/products"):
                try:
                    if product["type"] == "variable":
                        path = f"/products/{whole(product['id'])}/variations"
                        variations = await self._all(client, path)
                        levels.extend(lv for v in variations if (lv := level_of(v)))
                    elif lv := level_of(product):
                        levels.append(lv)
                except (KeyError, TypeError) as exc:
                    raise ProviderError(f"woocommerce: unreadable product: {exc!r}") from None
        return levels

    async def _all(self, client: httpx.AsyncClient, path: str) -> list[Any]:
        """Every item of a listing, page by page until ``X-WP-TotalPages``."""
        items: list[Any] = []
        page, pages = 1, 1
        while page <= pages:
            if page > MAX_PAGES:
                raise ProviderError("woocommerce: too many pages")
            data, r = await get_json(
                client, self.caller, path, {"per_page": PER_PAGE, "page": page}
            )
            if not isinstance(data, list):
                raise ProviderError("woocommerce: a listing that is not a list")
            items.extend(data)
            try:
                pages = int(r.headers["x-wp-totalpages"])
            except (KeyError, ValueError):
                raise ProviderError("woocommerce: no X-WP-TotalPages header") from None
            page += 1
        return items


def signature_of(secret: str, body: bytes) -> str:
    """``X-WC-Webhook-Signature`` for ``body``: base64 of its HMAC-SHA256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(secret: str, body: bytes, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(signature_of(secret, body), given or "")
