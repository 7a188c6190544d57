"""``POST /api/inventory/webhook``: stock levels pushed by an external inventory system.

Signed like Stripe's webhooks (a missing, wrong or stale signature is a 401):
``X-Inventory-Signature: sha256=<hex>`` is
HMAC-SHA256(secret, ``<timestamp>.<raw body>``) with the unix time sent in
``X-Inventory-Timestamp``; a timestamp more than the tolerance (5 min) away is refused,
so a captured request cannot be replayed later, and ``X-Inventory-Delivery`` (unique per
delivery) is recorded with the change, so a replay within the window is ignored.
The body is ``{"updates": [{"sku": "...", "on_hand": 12}, ...]}``; every update is
checked before any is applied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tillpoint.errors import BadRequest, FieldError, InvalidInput, ServiceUnavailable, Unauthorized
from tillpoint.inventory.levels import ExternalLevel, apply_external_levels
from tillpoint.inventory.queries import record_delivery_once
from tillpoint.runtime import Runtime
from tillpoint.security.screen import leading_code, message_for, screen_text, screen_value

TIMESTAMP_HEADER = "x-inventory-timestamp"
SIGNATURE_HEADER = "x-inventory-signature"
DELIVERY_HEADER = "x-inventory-delivery"
MAX_UPDATES = 1000


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value a sender computes for ``body`` at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: datetime, tolerance: int
) -> None:
    """Raise unless ``body`` carries a valid signature made within ``tolerance`` seconds."""
    stamp = headers.get(TIMESTAMP_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if not stamp or not given:
        raise Unauthorized(
            "X-Inventory-Timestamp and X-Inventory-Signature are required.",
            code="missing_signature",
        )
    if not stamp.isdigit() or len(stamp) > 12:
        raise BadRequest("X-Inventory-Timestamp must be unix seconds.", code="invalid_timestamp")
    if abs(now.timestamp() - int(stamp)) > tolerance:
        raise Unauthorized(
            "The timestamp is outside the tolerance; resend with a fresh signature.",
            code="stale_timestamp",
        )
    expected = sign(secret, int(stamp), body)
    # Several signatures may be sent while the secret is rotated; any may match.
    if not any(hmac.compare_digest(expected, part.strip()) for part in given.split(",")):
        raise Unauthorized("The signature does not match.", code="invalid_signature")


def _parse(body: bytes) -> list[ExternalLevel]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("The body is not valid JSON.", code="malformed_json") from None
    refused = screen_value(data)  # the API's own input rules: this body is read here, not by it
    if refused:
        code = leading_code(refused)
        raise InvalidInput(message_for(code), code=code, fields=refused)
    updates = data.get("updates") if isinstance(data, dict) else None
    if not isinstance(updates, list) or not 1 <= len(updates) <= MAX_UPDATES:
        raise InvalidInput(
            f"Send 1 to {MAX_UPDATES} updates.",
            code="invalid_request",
            fields=[FieldError(("updates",), "invalid", "a list of {sku, on_hand}")],
        )
    levels: list[ExternalLevel] = []
    for n, item in enumerate(updates):
        sku = item.get("sku") if isinstance(item, dict) else None
        on_hand = item.get("on_hand") if isinstance(item, dict) else None
        if not isinstance(sku, str) or not 1 <= len(sku) <= 64:
            raise InvalidInput(
                "Each update needs a sku.",
                code="invalid_request",
                fields=[FieldError(("updates", n, "sku"), "invalid", "a string of 1-64")],
            )
        if isinstance(on_hand, bool) or not isinstance(on_hand, int):
            raise InvalidInput(
                "on_hand must be a whole number.",
                code="invalid_request",
                fields=[FieldError(("updates", n, "on_hand"), "invalid", "an integer")],
            )
        levels.append(ExternalLevel(sku, on_hand))
    return levels


async def receive_stock_webhook(
    rt: Runtime, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """Verify and apply one delivery; returns ``{"status": "applied"|"duplicate", ...}``.
    Nothing is applied unless every check passes."""
    secret = rt.settings.inventory_webhook_secret
    if not secret:
        raise ServiceUnavailable(
            "The inventory webhook is not configured.", code="webhook_not_configured"
        )
    now = rt.clock.now()
    verify(secret, headers, body, now, rt.settings.inventory_webhook_tolerance_seconds)
    delivery = headers.get(DELIVERY_HEADER, "")
    if not 1 <= len(delivery) <= 120:
        raise BadRequest("X-Inventory-Delivery is required.", code="missing_delivery_id")
    bad_delivery = screen_text(delivery, ("header", DELIVERY_HEADER), single_line=True)
    if bad_delivery is not None:
        raise InvalidInput(bad_delivery.message, code=bad_delivery.code, fields=[bad_delivery])
    levels = _parse(body)
    async with rt.db.transaction() as s:
        first = await s.scalar(record_delivery_once(s, delivery, now, {"updates": len(levels)}))
        if first is None:
            return {"status": "duplicate", "delivery": delivery, "applied": 0}
        changed = await apply_external_levels(rt, s, levels, source=f"webhook:{delivery}")
    return {"status": "applied", "delivery": delivery, "applied": len(changed)}
