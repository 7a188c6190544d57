"""The sandbox's ids survive card-data scrubbing: they never hold a card-number-like run."""

from __future__ import annotations

from tillpoint.payments import sandbox
from tillpoint.security.scrub import scrub_text


def test_ids_are_never_taken_for_card_numbers() -> None:
    # Hex ids held a Luhn-valid run of 13+ digits often enough to redact a refund id in
    # the audit trail now and then; 20,000 draws met one almost every time.
    ids = [sandbox._id("re") for _ in range(20_000)]
    assert [i for i in ids if scrub_text(i) != i] == []
    assert len(set(ids)) == len(ids)
    assert all(len(i) == len("re_") + 24 and i[3:].isalnum() for i in ids)
