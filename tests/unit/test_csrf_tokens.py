from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tillpoint.security import csrf

SECRET = "s" * 40


def test_token_valid_for_its_session_only() -> None:
    token = csrf.issue_token(SECRET, "session-a", 100)
    assert csrf.token_is_valid(SECRET, "session-a", token, 100)
    assert not csrf.token_is_valid(SECRET, "session-b", token, 100)
    assert not csrf.token_is_valid("t" * 40, "session-a", token, 100)


def test_previous_epoch_accepted_older_refused() -> None:
    token = csrf.issue_token(SECRET, "sid", 100)
    assert csrf.token_is_valid(SECRET, "sid", token, 101)
    assert not csrf.token_is_valid(SECRET, "sid", token, 102)


def test_nonce_carries_32_random_bytes() -> None:
    a = csrf.issue_token(SECRET, "sid", 1)
    b = csrf.issue_token(SECRET, "sid", 1)
    assert a != b
    assert len(a.split(".")[0]) == 43  # base64url of 32 bytes without padding


@given(st.text(max_size=200))
def test_garbage_never_validates(garbage: str) -> None:
    assert not csrf.token_is_valid(SECRET, "sid", garbage, 5)


def test_double_submit_requires_both_equal() -> None:
    assert csrf.tokens_match("abc", "abc")
    assert not csrf.tokens_match("abc", "abd")
    assert not csrf.tokens_match(None, "abc")
    assert not csrf.tokens_match("abc", None)
