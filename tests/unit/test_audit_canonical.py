"""The canonical text split around ``seq`` (what PostgreSQL hashes a row from) is the
canonical text itself once the ``seq`` is put in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tillpoint.audit.chain import ChainedRow, canonical, canonical_around_seq

AT = datetime(2026, 11, 27, 0, 30, 1, 123456, tzinfo=UTC)


@pytest.mark.parametrize("chain", [0, 1, 15])
@pytest.mark.parametrize("seq", [1, 9, 10, 123456789012])
@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"from": "guest_info", "to": "shipping_address", "version": 3},
        {"seq": 5, "zz": [1, 2.5, None, True], "a": {"seq": "x", "b": {}}},
        {"note": 'caf\u00e9 "quoted" \\ \n \u2028 \U0001f600', "\u00fcml": "\u00e4"},
    ],
)
def test_the_split_joins_back_into_the_canonical_text(
    chain: int, seq: int, meta: dict[str, Any]
) -> None:
    row = ChainedRow(
        id="aud_0123456789012345678901",
        event_type="checkout_select_guest",
        entity_type="checkout",
        entity_id="chk_0123456789012345678901",
        user_id=None,
        session_id="s" * 64,
        action="select_guest",
        meta=meta,
        ip_address="198.51.100.4",
        user_agent='agent "x" \u00e9',
        timestamp=AT,
        chain=chain,
        seq=seq,
    )
    before, after = canonical_around_seq(row)
    assert before + str(seq) + after == canonical(row)
