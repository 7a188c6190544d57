"""Access JWTs: only genuine, unexpired HS256 tokens of our own key are read."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tillpoint.auth.tokens import (
    AUDIENCE,
    ISSUER,
    LEEWAY_SECONDS,
    AccessTokenError,
    issue_access_token,
    read_access_token,
    refresh_token_id,
    signing_key,
)

SECRET = "unit-test-secret-that-is-long-enough-0123456789"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _issue(**kw: object) -> str:
    values: dict[str, object] = {
        "user_id": "user_1",
        "session_id": "sid-1",
        "role": "customer",
        "now": NOW,
        "ttl_seconds": 3600,
    }
    values.update(kw)
    token, _ = issue_access_token(SECRET, **values)  # type: ignore[arg-type]
    return token


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_genuine_token_is_read_with_its_claims() -> None:
    claims = read_access_token(SECRET, _issue(role="admin"), now=NOW + timedelta(minutes=59))
    assert (claims.user_id, claims.session_id, claims.role) == ("user_1", "sid-1", "admin")
    assert claims.expires_at == NOW + timedelta(hours=1)


def test_token_expires_by_the_injected_clock() -> None:
    token = _issue()
    with pytest.raises(AccessTokenError) as err:
        read_access_token(SECRET, token, now=NOW + timedelta(hours=1))
    assert err.value.code == "expired"


def test_alg_none_token_is_refused() -> None:
    payload = _claims(_issue(role="admin"))
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
    with pytest.raises(AccessTokenError) as err:
        read_access_token(SECRET, forged, now=NOW)
    assert err.value.code == "invalid"


def test_tampered_payload_is_refused() -> None:
    header, _, signature = _issue().split(".")
    payload = _claims(_issue())
    payload["role"] = "admin"
    with pytest.raises(AccessTokenError):
        read_access_token(SECRET, f"{header}.{_b64(payload)}.{signature}", now=NOW)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_algorithm_with_our_key_is_refused() -> None:
    payload = _claims(_issue())
    token = jwt.encode(payload, signing_key(SECRET), algorithm="HS512")
    with pytest.raises(AccessTokenError):
        read_access_token(SECRET, token, now=NOW)


def test_token_of_another_secret_is_refused() -> None:
    other = "another-secret-that-is-also-long-enough-987654"
    token, _ = issue_access_token(
        other, user_id="u", session_id="s", role="admin", now=NOW, ttl_seconds=60
    )
    with pytest.raises(AccessTokenError):
        read_access_token(SECRET, token, now=NOW)


@pytest.mark.parametrize("missing", ["sid", "exp", "aud", "iss", "sub"])
def test_token_missing_a_required_claim_is_refused(missing: str) -> None:
    payload = _claims(_issue())
    del payload[missing]
    token = jwt.encode(payload, signing_key(SECRET), algorithm="HS256")
    with pytest.raises(AccessTokenError):
        read_access_token(SECRET, token, now=NOW)


def test_wrong_audience_or_issuer_is_refused() -> None:
    for field, value in (("aud", "someone-else"), ("iss", "evil")):
        payload = {**_claims(_issue()), field: value}
        token = jwt.encode(payload, signing_key(SECRET), algorithm="HS256")
        with pytest.raises(AccessTokenError):
            read_access_token(SECRET, token, now=NOW)
    assert (AUDIENCE, ISSUER) == ("tillpoint-api", "tillpoint")


def test_garbage_is_refused() -> None:
    for junk in ("", "abc", "a.b.c", "ey.ey.ey"):
        with pytest.raises(AccessTokenError):
            read_access_token(SECRET, junk, now=NOW)


def test_refresh_token_ids_are_digests_not_tokens() -> None:
    token = "some-refresh-token"
    assert refresh_token_id(token) != token and len(refresh_token_id(token)) == 64


def _signed(**changes: object) -> str:
    """A token signed with our own key (so only its claims can make it fail)."""
    payload = {**_claims(_issue()), **changes}
    return jwt.encode(payload, signing_key(SECRET), algorithm="HS256")


def test_token_not_valid_before_a_future_nbf_is_refused() -> None:
    token = _signed(nbf=int((NOW + timedelta(hours=1)).timestamp()))
    with pytest.raises(AccessTokenError) as err:
        read_access_token(SECRET, token, now=NOW)
    assert err.value.code == "not_yet_valid"
    # Once nbf has come (clock moved on, token still unexpired), it is read.
    later = read_access_token(
        SECRET,
        _signed(
            nbf=int((NOW + timedelta(minutes=10)).timestamp()),
            exp=int((NOW + timedelta(minutes=50)).timestamp()),
        ),
        now=NOW + timedelta(minutes=10),
    )
    assert later.user_id == "user_1"


def test_token_issued_in_the_future_is_refused() -> None:
    token = _signed(iat=int((NOW + timedelta(minutes=5)).timestamp()))
    with pytest.raises(AccessTokenError) as err:
        read_access_token(SECRET, token, now=NOW)
    assert err.value.code == "not_yet_valid"


def test_small_clock_skew_between_instances_is_tolerated() -> None:
    ahead = int((NOW + timedelta(seconds=LEEWAY_SECONDS)).timestamp())
    claims = read_access_token(SECRET, _signed(iat=ahead, nbf=ahead), now=NOW)
    assert claims.session_id == "sid-1"


@pytest.mark.parametrize("claim", ["iat", "nbf", "exp"])
@pytest.mark.parametrize("value", ["0", 1.5, True, None, [1]])
def test_time_claims_that_are_not_whole_seconds_are_refused(claim: str, value: object) -> None:
    with pytest.raises(AccessTokenError) as err:
        read_access_token(SECRET, _signed(**{claim: value}), now=NOW)
    assert err.value.code == "invalid"


def test_token_living_longer_than_we_issue_is_refused() -> None:
    token = _signed(exp=int((NOW + timedelta(days=3650)).timestamp()))
    with pytest.raises(AccessTokenError) as err:
        read_access_token(SECRET, token, now=NOW, max_lifetime_seconds=3600)
    assert err.value.code == "invalid"
    assert read_access_token(SECRET, _issue(), now=NOW, max_lifetime_seconds=3600)
