"""Verifying tillpoint's webhook deliveries: ``Tillpoint-Signature: t=<unix>,v1=<hex>``,
the hex HMAC-SHA256 of ``"{t}.{body}"`` with the endpoint's ``whsec_…`` secret. During a
secret rotation a delivery carries one ``v1`` per signing secret; any one that matches
will do. Verify the raw body as received, before parsing it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from tillpoint.client.models import CheckoutSession, Order

SIGNATURE_HEADER = "Tillpoint-Signature"
DEFAULT_TOLERANCE = 300


class SignatureVerificationError(Exception):
    """The delivery is not proven to come from tillpoint: refuse it (answer 400)."""

    def __init__(self, message: str, sig_header: str | None = None) -> None:
        super().__init__(message)
        self.sig_header = sig_header


class WebhookEvent(BaseModel):
    """One event: ``data`` as sent; ``checkout_session`` and ``order`` read it typed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    type: str
    created_at: datetime
    data: dict[str, JsonValue]

    @property
    def checkout_session(self) -> CheckoutSession | None:
        """The session of a ``checkout.session.*`` event."""
        found = self.data.get("checkout_session")
        return None if found is None else CheckoutSession.model_validate(found)

    @property
    def order(self) -> Order | None:
        """The order of an ``order.*`` event, or of a completed checkout session."""
        if self.type.startswith("order."):
            return Order.model_validate(self.data)
        found = self.data.get("order")
        return None if found is None else Order.model_validate(found)


def construct_event(
    payload: bytes | str,
    sig_header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
) -> WebhookEvent:
    """The verified event of a delivery. Raises :class:`SignatureVerificationError` when
    the header is missing or malformed, no ``v1`` matches ``secret``, or its timestamp is
    more than ``tolerance`` seconds from now (a replay)."""
    body = payload.encode() if isinstance(payload, str) else payload
    verify_header(body, sig_header, secret, tolerance)
    try:
        return WebhookEvent.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise SignatureVerificationError(f"signed body is not an event: {exc}") from exc


def verify_header(
    body: bytes, sig_header: str | None, secret: str, tolerance: int = DEFAULT_TOLERANCE
) -> None:
    """Check the signature of ``body`` (see :func:`construct_event`)."""
    if not secret:
        raise ValueError("no webhook secret given")
    timestamp, signatures = parse_header(sig_header)
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # Every candidate is compared in constant time, and all of them, whatever matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in signatures]
    if not any(matches):
        raise SignatureVerificationError("no signature matches the secret", sig_header)
    if abs(int(time.time()) - timestamp) > tolerance:
        raise SignatureVerificationError(
            f"timestamp {timestamp} is more than {tolerance} s from now", sig_header
        )


def parse_header(sig_header: str | None) -> tuple[int, list[str]]:
    """``(t, [v1, ...])`` of a ``Tillpoint-Signature`` header; other schemes are ignored."""
    if not sig_header:
        raise SignatureVerificationError(f"no {SIGNATURE_HEADER} header", sig_header)
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in sig_header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureVerificationError("malformed signature header", sig_header)
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        raise SignatureVerificationError("the header needs one numeric t=", sig_header)
    if not signatures:
        raise SignatureVerificationError("the header has no v1 signature", sig_header)
    return int(timestamps[0]), signatures
