"""PAN/CVV/secret detection and scrubbing: known cards, separators, and properties."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from tillpoint.security.log_filter import ScrubFilter
from tillpoint.security.scrub import (
    PAN_REDACTED,
    REDACTED,
    contains_card_number,
    contains_control_characters,
    luhn_valid,
    scrub,
    scrub_text,
)

TEST_CARDS = [
    "4242424242424242",  # Visa
    "4000056655665556",  # Visa debit
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # Amex (15)
    "6011111111111117",  # Discover
    "3056930009020004",  # Diners (14 would be 30569309025904)
    "30569309025904",
    "4000002500003155",  # 3DS
]


def _luhn_complete(body: str) -> str:
    """Append the check digit that makes ``body`` Luhn-valid."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable")


def test_luhn_accepts_known_cards_and_refuses_a_changed_digit() -> None:
    for card in TEST_CARDS:
        assert luhn_valid(card), card
        changed = card[:-1] + str((int(card[-1]) + 1) % 10)
        assert not luhn_valid(changed), changed


def test_known_cards_are_found_plain_spaced_and_dashed() -> None:
    for card in TEST_CARDS:
        spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
        dashed = spaced.replace(" ", "-")
        for text in (card, spaced, dashed, f"my card is {spaced}, thanks"):
            assert contains_card_number(text), text
            assert card not in scrub_text(text).replace(" ", "").replace("-", "")
            assert PAN_REDACTED in scrub_text(text)


def test_non_cards_are_left_alone() -> None:
    thirteen = _luhn_complete("424242424242")
    for text in [
        f"+1 {thirteen[:3]} {thirteen[3:6]} {thirteen[6:]}",  # a 14-digit E.164 phone number
        "4242424242424241",  # Luhn fails
        "424242424242",  # 12 digits: too short
        "42424242424242424242",  # 20 digits: too long (an id, not a card)
        "order 1234-5678",
    ]:
        assert not contains_card_number(text), text
        assert scrub_text(text) == text


def test_a_card_glued_to_letters_or_behind_a_plus_is_still_found() -> None:
    assert contains_card_number("card4242424242424242x")
    assert contains_card_number("+4242424242424242")  # 16 digits: longer than any phone


def test_cvv_and_secrets_in_text_are_redacted() -> None:
    text = "cvv: 123, CVC 9876 key sk_live_abcdef123456 whsec_abcdefgh1234 Bearer abc.def.ghi123"
    out = scrub_text(text)
    for secret in ("123", "9876", "sk_live_abcdef123456", "whsec_abcdefgh1234", "abc.def.ghi123"):
        assert secret not in out
    assert "pi_123_secret_abc" not in scrub_text("client secret pi_123_secret_abc")
    assert "hunter2" not in scrub_text("password=hunter2")


def test_scrub_redacts_secret_keys_and_walks_nested_values() -> None:
    value = {
        "password": "hunter2",
        "cvv": "123",
        "card_number": "not even digits",
        "refresh_token": "abc",
        "nested": {"note": "pay with 4242 4242 4242 4242", "list": ["5555555555554444", 7]},
        "pan_as_int": 4242424242424242,
        "amount": 1999,
        "flag": True,
    }
    out = scrub(value)
    assert out["password"] == out["cvv"] == out["card_number"] == out["refresh_token"] == REDACTED
    assert out["nested"]["note"] == f"pay with {PAN_REDACTED}"
    assert out["nested"]["list"] == [PAN_REDACTED, 7]
    assert out["pan_as_int"] == PAN_REDACTED
    assert out["amount"] == 1999 and out["flag"] is True
    assert value["password"] == "hunter2"  # the input is not modified


def test_control_characters_and_bidi_overrides_are_detected() -> None:
    assert contains_control_characters("a\x00b")
    assert contains_control_characters("a\x1bb")
    assert contains_control_characters("abc\u202edcba")
    assert not contains_control_characters("line one\nline two\tand a tab")
    assert not contains_control_characters("Zoë Ünïcode — fine")


def test_log_filter_scrubs_message_arguments_extras_and_exceptions() -> None:
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "paid %s", ("4242424242424242",), None
    )
    record.__dict__["password"] = "hunter2"
    record.__dict__["detail"] = {"card": "5555 5555 5555 4444"}
    try:
        raise ValueError("declined 4000002500003155")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert ScrubFilter().filter(record)
    assert record.getMessage() == f"paid {PAN_REDACTED}"
    assert record.__dict__["password"] == REDACTED
    assert record.__dict__["detail"] == {"card": PAN_REDACTED}
    assert record.exc_text is not None and "4000002500003155" not in record.exc_text
    assert "ValueError" in record.exc_text


card_bodies = st.integers(min_value=12, max_value=18).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
)
separators = st.sampled_from(["", " ", "-"])
filler = st.text(alphabet="abcxyz .,:;()", max_size=20)


@given(card_bodies, separators, filler, filler)
def test_property_every_luhn_valid_run_is_scrubbed(
    body: str, sep: str, before: str, after: str
) -> None:
    card = _luhn_complete(body)
    grouped = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    text = f"{before}{grouped}{after}"
    assert contains_card_number(text)
    out = scrub_text(text)
    assert card not in out.replace(" ", "").replace("-", "")


@given(st.text(max_size=200))
def test_property_scrubbed_text_holds_no_card_number(text: str) -> None:
    assert not contains_card_number(scrub_text(text))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_property_scrub_never_raises_and_leaves_no_card_number(value: object) -> None:
    out = scrub(value)
    assert not contains_card_number(repr(out).replace("'", " "))
