"""A shopper who reaches a rate limit is told, in words, when to try again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
from tests.e2e.shopper import fill_guest, start_checkout, step


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Starting the checkout and choosing "guest" are the session's two checkout requests
    # this minute; the guest details are the third.
    return {"rate_limit_checkout": "2/minute"}


def test_the_checkout_says_when_to_try_again(page: Any, live: LiveServer) -> None:
    start_checkout(page, ("Canvas Tote Bag", 1))
    step(page, "user_identification").get_by_role("button", name="Check out as a guest").click()
    fill_guest(page)
    alert = page.locator("#page-error")
    expect(alert).to_be_visible()
    expect(alert).to_have_text(re.compile(r"^Too many requests — try again in \d{1,2} seconds?\.$"))
    step(page, "guest_info")  # the customer stays where they were, nothing lost
