"""The stock webhook's signature rule, pure: HMAC-SHA256 over "<timestamp>.<raw body>"."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.errors import TillpointError, Unauthorized
from tillpoint.inventory.webhook import sign, verify

SECRET = "whsec_unit_secret_0123456789abcdef"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())


def headers(signature: str, stamp: int = STAMP) -> dict[str, str]:
    return {"x-inventory-timestamp": str(stamp), "x-inventory-signature": signature}


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"updates":[]}'
    expected = hmac.new(SECRET.encode(), f"{STAMP}.".encode() + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, STAMP, body) == "sha256=" + expected


@given(st.binary(max_size=200), st.integers(min_value=-300, max_value=300))
def test_any_body_signed_within_tolerance_verifies(body: bytes, skew: int) -> None:
    verify(SECRET, headers(sign(SECRET, STAMP + skew, body), STAMP + skew), body, NOW, 300)


@given(st.binary(min_size=1, max_size=200))
def test_a_changed_body_never_verifies(body: bytes) -> None:
    signature = sign(SECRET, STAMP, body)
    with pytest.raises(Unauthorized):
        verify(SECRET, headers(signature), body + b" ", NOW, 300)


def test_rotation_accepts_any_listed_signature() -> None:
    body = b"{}"
    both = sign("whsec_old_secret_000000000000", STAMP, body) + ", " + sign(SECRET, STAMP, body)
    verify(SECRET, headers(both), body, NOW, 300)


@pytest.mark.parametrize(
    ("stamp", "code"),
    [(str(STAMP - 301), "stale_timestamp"), (str(STAMP + 301), "stale_timestamp"),
     ("yesterday", "invalid_timestamp"), ("", "missing_signature")],
)  # fmt: skip
def test_bad_timestamps_are_refused(stamp: str, code: str) -> None:
    body = b"{}"
    sig = sign(SECRET, int(stamp), body) if stamp.isdigit() else "sha256=00"
    with pytest.raises(TillpointError) as err:
        verify(
            SECRET, {"x-inventory-timestamp": stamp, "x-inventory-signature": sig}, body, NOW, 300
        )
    assert err.value.code == code
    assert err.value.status == (400 if code == "invalid_timestamp" else 401)
