"""What the shop owner does in the browser: accounts to sign in with, signing in, and
the checks every admin page gets (no sideways scroll, axe, no-store)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
from tillpoint.auth.public import create_user
from tillpoint.runtime import Runtime

ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "the owner's long passphrase 1"
SHOPPER_EMAIL = "shopper@example.com"
SHOPPER_PASSWORD = "a shopper's long passphrase 2"

# Hostile text a product, coupon note or audit entry may hold: markup, control
# characters and a 200-character word (which must wrap, not widen the page).
SCRIPT = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
CONTROL = "tab\there\x07bell\x1b[31m"
LONG_WORD = "W" * 200


def make_accounts(live: LiveServer) -> None:
    """The shop's admin and one shopper (role customer)."""

    async def make(rt: Runtime) -> None:
        await create_user(rt, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin")
        await create_user(rt, email=SHOPPER_EMAIL, password=SHOPPER_PASSWORD, role="customer")

    live.call(make)


def sign_in(tab: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    """On /admin/login (already open): fill the form and sign in."""
    tab.wait_for_selector("html[data-ready='true']")
    tab.get_by_label("E-mail address").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()


def admin_signed_in(tab: Any, path: str = "/admin") -> None:
    """Open ``path`` as the admin: through the sign-in page it redirects to."""
    tab.goto(path)
    expect(tab).to_have_url(re.compile(r"/admin/login\?next="))
    sign_in(tab)
    expect(tab).to_have_url(re.compile(re.escape(path) + "$"))
    tab.wait_for_selector("html[data-ready='true']")


def open_admin(tab: Any, path: str) -> Any:
    """Go to an admin page (signed in already); its response, once its script ran."""
    response = tab.goto(path)
    tab.wait_for_selector("html[data-ready='true']")
    return response


def pwned(tab: Any) -> Any:
    """Anything an injected script or handler would have set."""
    return tab.evaluate("() => window.__pwned")
