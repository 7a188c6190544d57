"""Identifiers: shape, validation and spread over the alphabet."""

from __future__ import annotations

from collections import Counter

from tillpoint.ids import is_valid_id, new_id


def test_new_ids_have_the_documented_shape_and_validate() -> None:
    ids = {new_id("cart") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(is_valid_id(i, "cart") for i in ids)
    assert not any(is_valid_id(i, "chk") for i in ids)
    assert not is_valid_id("cart_" + "0" * 21, "cart")
    assert not is_valid_id("cart_" + "0" * 21 + "-", "cart")


def test_every_position_uses_the_whole_alphabet_evenly() -> None:
    # 62 symbols x 22 positions; 20,000 ids put ~322 of each symbol at each position.
    # A position stuck on few symbols (or a biased last digit) falls far outside 200-450.
    bodies = [new_id("x1")[3:] for _ in range(20000)]
    for position in range(22):
        counts = Counter(b[position] for b in bodies)
        assert len(counts) == 62, position
        assert min(counts.values()) > 200 and max(counts.values()) < 450, (position, counts)
