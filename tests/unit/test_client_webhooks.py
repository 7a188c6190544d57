"""tillpoint.client.webhooks.construct_event: the signature scheme of docs/webhooks.md,
computed here independently of the server's signing module."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from tillpoint.client import SignatureVerificationError, WebhookEvent, construct_event
from tillpoint.client.webhooks import parse_header

SECRET = "whsec_the_current_secret"
OLD_SECRET = "whsec_the_previous_secret"
SESSION = {
    "id": "cs_1", "object": "checkout_session", "status": "complete", "url": None,
    "expires_at": "2026-12-08T23:00:00+00:00", "created_at": "2026-12-07T23:00:00+00:00",
    "success_url": "http://shop.example/s", "cancel_url": "http://shop.example/c",
    "client_reference_id": "order-42", "customer_email": "a@b.example", "metadata": {},
    "allow_coupons": False, "currency": "USD", "amount_subtotal": 1250, "amount_discount": 0,
    "amount_shipping": 500, "amount_tax": 100, "amount_total": 1850,
    "line_items": [{"sku": "TEA-SENCHA", "name": "Sencha", "quantity": 1, "unit_amount": 1250,
                    "amount_total": 1250}],
    "order_id": "ord_1", "order_number": "TP-2026-000001",
}  # fmt: skip
ORDER = {
    "id": "ord_1", "number": "TP-2026-000001", "status": "paid", "currency": "USD",
    "email": "a@b.example", "created_at": "2026-12-07T23:01:00+00:00",
    "totals": {"subtotal": 1250, "discount": 0, "shipping": 500, "tax": 100, "total": 1850,
               "refunded": 0},
    "lines": [{"product_id": "prod_1", "variant_id": None, "sku": "TEA-SENCHA", "name": "Sencha",
               "quantity": 1, "unit_price": 1250, "total": 1250}],
}  # fmt: skip
BODY = json.dumps(
    {
        "id": "evt_1",
        "type": "checkout.session.completed",
        "created_at": "2026-12-07T23:01:00+00:00",
        "data": {"checkout_session": SESSION, "order": ORDER},
    },
    separators=(",", ":"),
).encode()


def sign(secret: str, t: int, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def header(t: int, *secrets: str, body: bytes = BODY) -> str:
    return ",".join([f"t={t}", *(f"v1={sign(s, t, body)}" for s in secrets)])


def test_a_good_signature_gives_the_typed_event() -> None:
    event = construct_event(BODY, header(int(time.time()), SECRET), SECRET)
    assert isinstance(event, WebhookEvent)
    assert (event.id, event.type) == ("evt_1", "checkout.session.completed")
    session, order = event.checkout_session, event.order
    assert session is not None and order is not None
    assert (session.status, session.client_reference_id, session.amount_total) == (
        "complete",
        "order-42",
        1850,
    )
    assert (order.number, order.totals.total, order.lines[0].sku) == (
        "TP-2026-000001",
        1850,
        "TEA-SENCHA",
    )


def test_an_order_event_is_the_order_itself() -> None:
    body = json.dumps({"id": "evt_2", "type": "order.paid", "created_at": ORDER["created_at"],
                       "data": ORDER}).encode()  # fmt: skip
    event = construct_event(body, header(int(time.time()), SECRET, body=body), SECRET)
    assert event.order is not None and event.order.id == "ord_1"
    assert event.checkout_session is None


def test_a_tampered_body_is_refused() -> None:
    t = int(time.time())
    tampered = BODY.replace(b'"amount_total":1850', b'"amount_total":1')
    assert tampered != BODY
    with pytest.raises(SignatureVerificationError, match="no signature matches"):
        construct_event(tampered, header(t, SECRET), SECRET)


def test_the_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureVerificationError, match="no signature matches"):
        construct_event(BODY, header(int(time.time()), "whsec_someone_else"), SECRET)


@pytest.mark.parametrize("age", [301, -301], ids=["too-old", "from-the-future"])
def test_a_timestamp_outside_the_tolerance_is_refused(age: int) -> None:
    t = int(time.time()) - age
    with pytest.raises(SignatureVerificationError, match="from now"):
        construct_event(BODY, header(t, SECRET), SECRET)
    # A wider tolerance takes the same delivery.
    assert construct_event(BODY, header(t, SECRET), SECRET, tolerance=400).id == "evt_1"


def test_any_of_several_v1_values_may_match() -> None:
    t = int(time.time())
    both = header(t, SECRET, OLD_SECRET)  # during a rotation's grace period
    assert construct_event(BODY, both, SECRET).id == "evt_1"
    assert construct_event(BODY, both, OLD_SECRET).id == "evt_1"
    assert construct_event(BODY, f"v0=abc,{both},v2=zzz", SECRET).id == "evt_1"


def test_a_str_payload_is_the_same_bytes() -> None:
    assert construct_event(BODY.decode(), header(int(time.time()), SECRET), SECRET).id == "evt_1"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "no Tillpoint-Signature header"),
        ("", "no Tillpoint-Signature header"),
        ("garbage", "malformed"),
        ("v1=abcdef", "one numeric t="),
        ("t=soon,v1=abcdef", "one numeric t="),
        ("t=1,t=2,v1=abcdef", "one numeric t="),
        ("t=1700000000", "no v1 signature"),
        ("t=1700000000,v1=", "no signature matches"),
    ],
)
def test_a_malformed_header_is_refused(value: str | None, says: str) -> None:
    with pytest.raises(SignatureVerificationError, match=says):
        construct_event(BODY, value, SECRET)


def test_parse_header_reads_t_and_every_v1() -> None:
    assert parse_header("t=12, v1=aa ,v1=bb,v0=cc") == (12, ["aa", "bb"])


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    body = b'{"hello": "world"}'
    with pytest.raises(SignatureVerificationError, match="not an event"):
        construct_event(body, header(int(time.time()), SECRET, body=body), SECRET)


def test_an_empty_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no webhook secret"):
        construct_event(BODY, header(int(time.time()), SECRET), "")
