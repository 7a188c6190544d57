"""Webhook intake: verify, record the event id once, dispatch to the feature handlers.

Verification uses the ``stripe`` SDK's signature check for both gateways (the sandbox
signs like Stripe) against every configured secret, so a secret can be rotated with
the old and the new one valid at once, then bounds the signed timestamp in both
directions (Stripe's SDK only refuses old ones: a signature made for a time far ahead
would otherwise stay valid until then). Anything that fails verification raises
:class:`WebhookRejected` (400) before anything else is touched; a failed signature is
audited (``webhook_signature_failed``), at most once per source address and minute when
the caller passes its rate limiter (``audit/signature_failures.py``): a flood of
forgeries writes a bounded number of rows, and every one is still refused. The event id
is inserted in the same transaction as the handlers' changes: a replay finds it and does
nothing, and a handler that fails rolls the record back so the retry runs again.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tillpoint.audit.signature_failures import audit_signature_failure
from tillpoint.errors import Forbidden
from tillpoint.payments.gateway import (
    PaymentGateway,
    WebhookEvent,
    WebhookRejected,
    WebhookUnauthenticated,
)
from tillpoint.payments.models import WebhookEventRecord
from tillpoint.payments.queries import claim_webhook_event
from tillpoint.runtime import Runtime
from tillpoint.security.ratelimit import RateLimiter

Handler = Callable[[AsyncSession, Runtime, PaymentGateway, WebhookEvent], Awaitable[None]]

Apply = Callable[[Runtime, PaymentGateway, WebhookEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WebhookRoutes:
    """What runs for a verified, first-seen event, by event type (built by the composition
    root, ``bootstrap.py``, and carried by the runtime as ``rt.webhooks``).

    ``handlers`` run in order inside the event's transaction; ``appliers`` are idempotent
    use cases with their own transactions (the checkout's finalize path), run before the
    event id is recorded: if one fails, the delivery answers 5xx and Stripe's retry runs
    it again.
    """

    handlers: Mapping[str, tuple[Handler, ...]]
    appliers: Mapping[str, tuple[Apply, ...]]


_SEEN = select(WebhookEventRecord.id).where(WebhookEventRecord.id == bindparam("event_id"))


async def _seen(rt: Runtime, event_id: str) -> bool:
    """Whether the event was applied already: one read, no transaction around it."""
    async with rt.db.single_statement() as conn:
        return (await conn.execute(_SEEN, {"event_id": event_id})).first() is not None


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    event_id: str
    type: str
    duplicate: bool
    handled: bool


def source_allowed(ip: str | None, allowed: list[str]) -> bool:
    """True if no allow-list is configured, or ``ip`` is inside one of its networks."""
    if not allowed:
        return True
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in allowed)


# The failures that mean "not signed by Stripe with our secret, now": audited.
SIGNATURE_FAILURES = frozenset(
    {
        "webhook_signature_missing",
        "webhook_signature_malformed",
        "webhook_signature_invalid",
        "webhook_timestamp_stale",
        "webhook_timestamp_future",
    }
)


def _signed_at(signature: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header (``t=…,v1=…[,v1=…]``), if it is one."""
    items = [part.strip().split("=", 1) for part in signature.split(",")]
    stamps = [item[1] for item in items if len(item) == 2 and item[0] == "t"]
    has_v1 = any(len(item) == 2 and item[0] == "v1" and item[1] for item in items)
    if len(stamps) != 1 or not stamps[0].isdigit() or len(stamps[0]) > 12 or not has_v1:
        raise WebhookUnauthenticated(
            "The Stripe-Signature header is not of the form t=<unix time>,v1=<signature>.",
            code="webhook_signature_malformed",
        )
    return int(stamps[0])


def verify_event(
    payload: bytes,
    signature: str | None,
    secrets: list[str],
    tolerance: int,
    *,
    now: float | None = None,
) -> WebhookEvent:
    """The event in ``payload`` if ``signature`` is valid for one of ``secrets`` and was
    made within ``tolerance`` seconds of ``now`` (the wall clock), before or after.

    Raises :class:`WebhookUnauthenticated` (401) for a missing, malformed or wrong
    signature or a timestamp outside the window either way, :class:`WebhookRejected`
    (400) for a body that is not a Stripe event.
    """
    if not secrets:
        raise WebhookRejected("No webhook secret is configured.", code="webhook_not_configured")
    if not signature:
        raise WebhookUnauthenticated(
            "Missing Stripe-Signature header.", code="webhook_signature_missing"
        )
    signed_at = _signed_at(signature)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected("The webhook body is not UTF-8.", code="webhook_malformed") from exc
    if not any(_signed_with(text, signature, secret) for secret in secrets):
        raise WebhookUnauthenticated(
            "The webhook signature does not match.", code="webhook_signature_invalid"
        )
    # Checked after the signature, as Stripe does: a refusal here is a genuine old (or
    # early) delivery, e.g. a replay, not a forgery.
    age = (time.time() if now is None else now) - signed_at
    if age > tolerance:
        raise WebhookUnauthenticated(
            "The webhook's timestamp is older than the tolerance window.",
            code="webhook_timestamp_stale",
        )
    if -age > tolerance:
        raise WebhookUnauthenticated(
            "The webhook's timestamp is in the future, beyond the tolerance window.",
            code="webhook_timestamp_future",
        )
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WebhookRejected(
            "The webhook body is not valid JSON.", code="webhook_malformed"
        ) from exc
    if not isinstance(data, dict):
        raise WebhookRejected("The webhook body is not a Stripe event.", code="webhook_malformed")
    return _parse(data)


def _signed_with(text: str, signature: str, secret: str) -> bool:
    """Whether one of the header's ``v1`` signatures is ``secret``'s over ``t.body``
    (the SDK's check; the timestamp is bounded by the caller)."""
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret)
    except stripe.SignatureVerificationError:
        return False
    return True


def _parse(data: dict[str, Any]) -> WebhookEvent:
    obj = (data.get("data") or {}).get("object") if isinstance(data.get("data"), dict) else None
    ok = (
        isinstance(data.get("id"), str)
        and isinstance(data.get("type"), str)
        and isinstance(data.get("created"), int)
        and isinstance(obj, dict)
        and 0 < len(data["id"]) <= 255
        and 0 < len(data["type"]) <= 100
    )
    if not ok:
        raise WebhookRejected("The webhook body is not a Stripe event.", code="webhook_malformed")
    assert isinstance(obj, dict)  # narrowed above, for mypy
    return WebhookEvent(
        id=data["id"],
        type=data["type"],
        created=data["created"],
        object=obj,
        livemode=bool(data.get("livemode")),
    )


async def _claim(
    s: AsyncSession | AsyncConnection, event: WebhookEvent, gateway: str, now: datetime
) -> bool:
    """Insert the event id; False if it was already there (a replay)."""
    values = {
        "id": event.id,
        "type": event.type,
        "object_id": str(event.object.get("id") or "")[:255] or None,
        "gateway": gateway,
        "event_created_at": datetime.fromtimestamp(event.created, UTC),
        "received_at": now,
    }
    return (await s.execute(claim_webhook_event(s, values))).first() is not None


async def process_webhook(
    rt: Runtime,
    gateway: PaymentGateway,
    payload: bytes,
    signature: str | None,
    *,
    source_ip: str | None = None,
    expected_types: frozenset[str] | None = None,
    limiter: RateLimiter | None = None,
) -> WebhookOutcome:
    """Verify and apply one webhook delivery exactly once (see the module docstring).

    ``expected_types`` narrows a dedicated endpoint to its event types (400 otherwise);
    ``limiter`` bounds the audit rows of failed signatures per source address.
    """
    settings = rt.settings
    if not source_allowed(source_ip, settings.webhook_allowed_ips):
        raise Forbidden(
            "Webhooks are not accepted from this address.", code="webhook_source_forbidden"
        )
    try:
        event = verify_event(
            payload, signature, gateway.webhook_secrets(), settings.webhook_tolerance_seconds
        )
    except WebhookRejected as exc:
        if exc.code in SIGNATURE_FAILURES:
            await audit_signature_failure(rt, limiter, "stripe", exc.code, source_ip)
        raise
    if expected_types is not None and event.type not in expected_types:
        raise WebhookRejected(
            f"This endpoint does not take {event.type!r} events.",
            code="webhook_event_unexpected",
            details={"expected": sorted(expected_types)},
        )
    handlers = rt.webhooks.handlers.get(event.type, ())
    appliers = rt.webhooks.appliers.get(event.type, ())
    if appliers:
        if await _seen(rt, event.id):
            return WebhookOutcome(event.id, event.type, duplicate=True, handled=False)
        for apply in appliers:
            await apply(rt, gateway, event)
    if not handlers:
        # Nothing to commit with the claim (charge.succeeded and most others): the INSERT
        # alone, without a transaction around it.
        async with rt.db.single_statement() as conn:
            claimed = await _claim(conn, event, gateway.name, rt.clock.now())
        return WebhookOutcome(
            event.id, event.type, duplicate=not claimed, handled=claimed and bool(appliers)
        )
    async with rt.db.transaction() as s:
        if not await _claim(s, event, gateway.name, rt.clock.now()):
            return WebhookOutcome(event.id, event.type, duplicate=True, handled=False)
        for handler in handlers:
            await handler(s, rt, gateway, event)
    return WebhookOutcome(event.id, event.type, duplicate=False, handled=bool(handlers or appliers))
