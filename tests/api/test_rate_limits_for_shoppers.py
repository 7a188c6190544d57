"""With the shipped default limits (not the suite's raised ones), real shoppers are not
refused: whole purchases from one session, and shoppers behind one address (an office, a
carrier-grade NAT) each with their own budget, while the per-address ceiling still stops
a flood. Counted in process memory and in Redis."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.api.test_checkout import fill_cart, send, start, to_state
from tests.support import Api, error_code
from tillpoint.config import Settings
from tillpoint.runtime import Runtime

DEFAULT_LIMITS = {
    name: Settings.model_fields[name].default
    for name in (
        "rate_limit_global",
        "rate_limit_checkout",
        "rate_limit_create_intent",
        "rate_limit_per_address",
    )
}


@pytest.fixture(params=["memory", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The shipped rate limits (conftest raises them for the rest of the suite), counted
    in memory or in Redis; the offline sandbox pays."""
    store = {"redis_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    return {
        **DEFAULT_LIMITS,
        **store,
        "payment_gateway": "sandbox",
        "rate_limit_adaptive": False,
        # Every shopper here pays with the one sandbox test card, which real colleagues
        # would not: the per-card payment velocity rule is not what this file tests.
        "payment_max_attempts_per_card": 100,
    }


def test_the_defaults_are_the_seeds_per_session_limits() -> None:
    assert DEFAULT_LIMITS["rate_limit_checkout"] == "50/5 minutes"
    assert DEFAULT_LIMITS["rate_limit_create_intent"] == "10/5 minutes"
    assert DEFAULT_LIMITS["rate_limit_global"] == "1000/15 minutes"


async def _ok(r: httpx.Response) -> httpx.Response:
    assert r.status_code < 400, (r.request.method, r.request.url.path, r.status_code, r.text)
    return r


async def purchase(shopper: Api, rt: Runtime) -> str:
    """One whole purchase with the requests the pages send for it (catalog, cart page,
    checkout page and its steps, payment, confirmation): 10 of them under /api/checkout.
    Returns the checkout's id."""
    for page in ("/", "/cart"):
        await _ok(await shopper.get(page))
    await shopper.start()  # GET /api/session, as each page does (a fresh CSRF token)
    await fill_cart(shopper, rt)
    await _ok(await shopper.get("/api/cart"))
    await _ok(await shopper.get("/checkout"))
    cid = str((await start(shopper))["id"])
    await _ok(await shopper.get("/api/cart"))
    await _ok(await shopper.get("/api/payment/config"))
    await to_state(shopper, cid, "order_review")
    await _ok(await send(shopper, cid, "CONFIRM_ORDER"))
    paid = await _ok(await shopper.post("/api/payment/confirm", json={"checkout_id": cid}))
    assert paid.json()["order_id"], paid.text
    await _ok(await shopper.get(f"/api/checkout/{cid}"))
    await _ok(await shopper.get(f"/api/orders/by-checkout/{cid}"))
    return cid


async def test_shoppers_behind_one_address_each_buy_on_their_own_budget(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    # Six shoppers behind one office NAT (all 127.0.0.1): 60 checkout requests from one
    # address in a few seconds, more than one session's 50.
    shoppers = [api, *[await new_api() for _ in range(5)]]
    for shopper in shoppers:
        await purchase(shopper, rt)


async def test_one_session_may_send_the_checkout_requests_of_five_purchases(
    api: Api, rt: Runtime
) -> None:
    cid = await purchase(api, rt)  # 10 requests under /api/checkout
    # The confirmation page's reloads and polls: 40 more, the seed's 50 in all, then no more.
    statuses = [(await api.get(f"/api/checkout/{cid}")).status_code for _ in range(41)]
    assert statuses[:40] == [200] * 40
    assert statuses[40] == 429


async def test_the_address_ceiling_stops_a_flood_that_changes_sessions(new_api: Any) -> None:
    ceiling = int(str(DEFAULT_LIMITS["rate_limit_per_address"]).split("/")[0])
    flooder: Api = await new_api(start=False)

    async def hit() -> httpx.Response:
        # A fresh made-up session cookie every time: no session budget ever fills up.
        cookie = f"tp-session={secrets.token_urlsafe(32)}"
        return await flooder.get("/api/checkout/chk_none", headers={"Cookie": cookie})

    answers = [(await hit()).status_code for _ in range(ceiling)]
    assert 429 not in answers
    refused = await hit()
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"
    error = refused.json()["error"]
    wait = error["details"]["retry_after"]
    assert isinstance(wait, int) and 1 <= wait <= 60
    assert error["details"]["limit"] == "address"
    assert refused.headers["Retry-After"] == str(wait) == refused.headers["RateLimit-Reset"]
    assert refused.headers["RateLimit-Limit"] == str(ceiling)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert error["message"] == f"Too many requests — try again in {wait} seconds."


async def test_a_payment_velocity_refusal_also_says_when_to_try_again(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    rt.settings.payment_max_attempts_per_card = 1
    await purchase(api, rt)
    colleague: Api = await new_api()
    await fill_cart(colleague, rt)
    cid = str((await start(colleague))["id"])
    await to_state(colleague, cid, "order_review")
    refused = await send(colleague, cid, "CONFIRM_ORDER")  # the same card, a second time
    assert refused.status_code == 429 and error_code(refused) == "payment_velocity_exceeded"
    wait = refused.json()["error"]["details"]["retry_after"]
    assert isinstance(wait, int) and wait >= 1 and refused.headers["Retry-After"] == str(wait)
