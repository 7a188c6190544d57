"""A shopper who reaches a rate limit is told, in words, when to try again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
from tests.e2e.shopper import fill_contact, start_checkout, step


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Starting the checkout and choosing "guest" are the session's two checkout requests
    # this minute; the guest details are the third.
    return {"rate_limit_checkout": "2/minute"}


def test_the_checkout_says_when_to_try_again(page: Any, live: LiveServer) -> None:
    start_checkout(page, ("Canvas Tote Bag", 1))
    # "Continue" sends SELECT_GUEST (the second request), then the guest's details.
    fill_contact(page).get_by_role("button", name="Continue to delivery").click()
    alert = page.locator("#page-error")
    expect(alert).to_be_visible()
    expect(alert).to_have_text(re.compile(r"^Too many requests — try again in \d{1,2} seconds?\.$"))
    panel = step(page, "guest_info")  # the customer stays where they were, nothing lost
    expect(panel.get_by_label("Email", exact=True)).to_have_value("ada@example.com")
    expect(panel.get_by_label("Street address")).to_have_value("1 Infinite Loop")
