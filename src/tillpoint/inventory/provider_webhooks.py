"""Stock webhooks of Shopify, WooCommerce and ShipStation, each checked its own way:

- Shopify ``inventory_levels/update``: ``X-Shopify-Hmac-Sha256`` is base64
  HMAC-SHA256(app secret, raw body). The body names an inventory item and a location;
  the item's SKU and its level over the configured locations are read back from the
  Admin API (so an old delivery arriving late cannot roll stock back).
- WooCommerce ``product.updated`` / ``product.created``: ``X-WC-Webhook-Signature`` is
  base64 HMAC-SHA256(webhook secret, raw body); the body is the product (or variation)
  as the REST API returns it, and its ``stock_quantity`` is applied when it manages stock.
- ShipStation (API v1 webhooks, which are not signed): a secret token in our URL,
  compared in constant time; the body's ``resource_url`` is fetched from the configured
  v1 host only, and the SKUs it lists are read back from the v2 inventory.

A delivery is known by its provider and the SHA-256 of its body (what the signature
covers; the providers' delivery-id headers are not signed), recorded with the change:
a replay is answered ``duplicate`` and applies nothing. Unknown SKUs are reported and
skipped, never an error, so a provider does not retry, then disable, the webhook over a
product we do not sell. Levels go through :func:`apply_external_levels`, as ours do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tillpoint.config import Settings
from tillpoint.errors import BadRequest, FieldError, InvalidInput, ServiceUnavailable, Unauthorized
from tillpoint.inventory import shipstation, shopify, woocommerce
from tillpoint.inventory.levels import ExternalLevel, apply_external_levels, known_skus
from tillpoint.inventory.models import WebhookDelivery
from tillpoint.inventory.provider_http import ProviderError
from tillpoint.inventory.providers import (
    shipstation_from_settings,
    shipstation_v1_from_settings,
    shopify_from_settings,
)
from tillpoint.inventory.queries import record_delivery_once
from tillpoint.runtime import Runtime
from tillpoint.security.screen import screen_text

SIGNATURE_FAILURES = frozenset({"missing_signature", "invalid_signature", "invalid_token"})


@dataclass
class WebhookOutcome:
    status: str  # applied | duplicate | ignored | ping
    delivery: str
    applied: int = 0
    unknown_skus: list[str] = field(default_factory=list)


def _not_configured(provider: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The {provider} inventory webhook is not configured.", code="webhook_not_configured"
    )


def _check_hmac(secret: Any, given: str | None, body: bytes, matches: Any, header: str) -> None:
    if secret is None:
        raise AssertionError("checked by the caller")
    if not given:
        raise Unauthorized(f"{header} is required.", code="missing_signature")
    if not matches(secret.get_secret_value(), body, given.strip()):
        raise Unauthorized("The signature does not match.", code="invalid_signature")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("The body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", code="invalid_request")
    return data


def _clean(sku: str) -> bool:
    """A SKU the input screen refuses (a card number, a NUL) is never looked up, stored
    or echoed."""
    return screen_text(sku, ("sku",), single_line=True) is None


def _delivery_key(provider: str, body: bytes) -> str:
    return f"{provider}:{hashlib.sha256(body).hexdigest()}"


async def _seen(rt: Runtime, key: str) -> bool:
    async with rt.db.transaction() as s:
        return await s.get(WebhookDelivery, key) is not None


async def _apply_once(
    rt: Runtime, key: str, levels: list[ExternalLevel], source: str
) -> WebhookOutcome:
    """Record the delivery and apply its known SKUs' levels in one transaction."""
    levels = [lv for lv in levels if _clean(lv.sku)]
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        known = await known_skus(s, [lv.sku for lv in levels])
        good = {lv.sku: lv for lv in levels if lv.sku in known}
        unknown = sorted({lv.sku[:64] for lv in levels if lv.sku not in known})
        summary = {"levels": len(good), "unknown": len(unknown)}
        if await s.scalar(record_delivery_once(s, key, now, summary)) is None:
            return WebhookOutcome("duplicate", key)
        changed = await apply_external_levels(rt, s, list(good.values()), source=source)
    return WebhookOutcome("applied", key, len(changed), unknown)


async def _levels_or_503(coro: Any) -> Any:
    try:
        return await coro
    except ProviderError as exc:
        raise ServiceUnavailable(
            f"The provider could not be read: {exc}", code="provider_unavailable"
        ) from None


# --- Shopify --------------------------------------------------------------------------------


async def receive_shopify(rt: Runtime, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
    """One ``inventory_levels/update`` delivery (other topics are acknowledged, ignored)."""
    settings = rt.settings
    secret = settings.inventory_shopify_webhook_secret
    if secret is None:
        raise _not_configured("Shopify")
    given = headers.get(shopify.HMAC_HEADER)
    _check_hmac(secret, given, body, shopify.signature_matches, "X-Shopify-Hmac-Sha256")
    key = _delivery_key("shopify", body)
    if headers.get(shopify.TOPIC_HEADER) != shopify.LEVELS_TOPIC:
        return WebhookOutcome("ignored", key)
    item, location = _shopify_ids(_json_object(body))
    if await _seen(rt, key):
        return WebhookOutcome("duplicate", key)
    provider = _built(shopify_from_settings, settings, "Shopify")
    if location not in provider.location_ids:
        return WebhookOutcome("ignored", key)
    level = await _levels_or_503(provider.level_of_item(item))
    return await _apply_once(rt, key, [level] if level else [], "webhook:shopify")


def _shopify_ids(data: dict[str, Any]) -> tuple[int, int]:
    ids = []
    for name in ("inventory_item_id", "location_id"):
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            raise InvalidInput(
                f"{name} must be a Shopify id.",
                code="invalid_request",
                fields=[FieldError((name,), "invalid", "a positive integer")],
            )
        ids.append(value)
    return ids[0], ids[1]


# A provider waits a few seconds for a webhook's answer (Shopify: 5) before it counts a
# failure and retries: read-backs made inside a delivery wait for less.
WEBHOOK_TIMEOUT_SECONDS = 4.0
WEBHOOK_MAX_RETRY_WAIT_SECONDS = 1.0


def _built(build: Any, settings: Settings, provider: str) -> Any:
    """The provider's API client for a read-back inside a delivery (short timeout and
    429 wait), or 503 when its settings are incomplete."""
    bounded = settings.model_copy(
        update={
            "inventory_provider_timeout_seconds": min(
                settings.inventory_provider_timeout_seconds, WEBHOOK_TIMEOUT_SECONDS
            ),
            "inventory_provider_max_retry_wait_seconds": min(
                settings.inventory_provider_max_retry_wait_seconds, WEBHOOK_MAX_RETRY_WAIT_SECONDS
            ),
        }
    )
    try:
        return build(bounded)
    except ValueError:
        raise _not_configured(provider) from None


# --- WooCommerce ----------------------------------------------------------------------------

WOO_TOPICS = frozenset({"product.updated", "product.created"})


async def receive_woocommerce(
    rt: Runtime, headers: Mapping[str, str], body: bytes
) -> WebhookOutcome:
    """One ``product.updated`` (or ``product.created``) delivery."""
    secret = rt.settings.inventory_woocommerce_webhook_secret
    if secret is None:
        raise _not_configured("WooCommerce")
    key = _delivery_key("woocommerce", body)
    if headers.get(woocommerce.TOPIC_HEADER) is None and body.startswith(b"webhook_id="):
        # The ping WooCommerce sends when the webhook is saved: acknowledged, nothing read.
        return WebhookOutcome("ping", key)
    given = headers.get(woocommerce.SIGNATURE_HEADER)
    _check_hmac(secret, given, body, woocommerce.signature_matches, "X-WC-Webhook-Signature")
    if headers.get(woocommerce.TOPIC_HEADER) not in WOO_TOPICS:
        return WebhookOutcome("ignored", key)
    data = _json_object(body)
    try:
        level = woocommerce.level_of(data)
    except TypeError:
        raise InvalidInput(
            "stock_quantity must be a whole number.",
            code="invalid_request",
            fields=[FieldError(("stock_quantity",), "invalid", "an integer")],
        ) from None
    if level is None:
        return WebhookOutcome("ignored", key)
    return await _apply_once(rt, key, [level], "webhook:woocommerce")


# --- ShipStation ----------------------------------------------------------------------------


async def receive_shipstation(rt: Runtime, token: str, body: bytes) -> WebhookOutcome:
    """One v1 webhook delivery (``{"resource_url", "resource_type"}``), authenticated by
    the token in its URL."""
    settings = rt.settings
    expected = settings.inventory_shipstation_webhook_token
    if expected is None:
        raise _not_configured("ShipStation")
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("The webhook token does not match.", code="invalid_token")
    data = _json_object(body)
    key = _delivery_key("shipstation", body)
    url, kind = data.get("resource_url"), data.get("resource_type")
    if kind not in shipstation.RESOURCE_TYPES:
        return WebhookOutcome("ignored", key)
    v1 = _built(shipstation_v1_from_settings, settings, "ShipStation")
    if not isinstance(url, str) or len(url) > 2000 or not v1.trusts(url):
        raise InvalidInput(
            "resource_url must be a URL on the configured ShipStation host.",
            code="untrusted_resource_url",
            fields=[FieldError(("resource_url",), "untrusted_resource_url", "ShipStation v1 host")],
        )
    if await _seen(rt, key):
        return WebhookOutcome("duplicate", key)
    skus = (await _levels_or_503(v1.skus_of(url)))[: shipstation.MAX_WEBHOOK_SKUS]
    provider = _built(shipstation_from_settings, settings, "ShipStation")
    wanted = await _known_of(rt, skus)
    levels = await _levels_or_503(provider.levels_of(wanted)) if wanted else []
    outcome = await _apply_once(rt, key, levels, "webhook:shipstation")
    outcome.unknown_skus = sorted({s[:64] for s in skus if s not in wanted and _clean(s)})
    return outcome


async def _known_of(rt: Runtime, skus: list[str]) -> list[str]:
    """The SKUs we sell (only those are worth a ShipStation call)."""
    clean = [s for s in skus if _clean(s)]
    async with rt.db.transaction() as s:
        known = await known_skus(s, clean)
    return [sku for sku in clean if sku in known]
