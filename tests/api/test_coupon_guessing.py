"""Coupon-code guessing over HTTP, in memory and on Redis: failed codes are limited per
session (10 per 15 minutes) and per address (30), then every code, the right one too,
answers 429 ``coupon_attempts_exceeded`` until the block ends; the block is audited once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests import factories
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime


@pytest.fixture(params=["memory", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


async def _shopper(api: Api, rt: Runtime) -> None:
    p = await factories.product(rt, price=2000)
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 1})
    assert r.status_code == 200, r.text


async def _apply(api: Api, code: str) -> httpx.Response:
    return await api.post("/api/cart/coupons", json={"code": code})


async def _guess(api: Api, times: int, start: int = 0) -> None:
    for i in range(start, start + times):
        r = await _apply(api, f"GUESS{i:04d}")
        assert r.status_code == 422 and error_code(r) == "coupon_not_found", r.text


def _refused(r: httpx.Response) -> int:
    assert r.status_code == 429 and error_code(r) == "coupon_attempts_exceeded", r.text
    retry_after = int(r.headers["Retry-After"])
    assert r.json()["error"]["details"]["retry_after"] == retry_after >= 1
    return retry_after


async def _audited(rt: Runtime) -> list[AuditLog]:
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(AuditLog).where(AuditLog.event_type == "coupon_attempts_exceeded")
        )
        return list(rows.all())


async def test_eleventh_code_of_a_session_is_refused_even_when_right(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    await _shopper(api, rt)
    await factories.coupon(rt, "REAL10", value=1000)
    await _guess(api, 10)
    assert _refused(await _apply(api, "REAL10")) == 900
    assert _refused(await _apply(api, "GUESS9999")) == 900
    rows = await _audited(rt)
    assert len(rows) == 1  # audited once when the limit was hit, not per refusal
    assert rows[0].meta["scopes"] == ["session"] and rows[0].session_id
    clock.advance(minutes=15)
    r = await _apply(api, "REAL10")
    assert r.status_code == 200 and r.json()["coupons"][0]["code"] == "REAL10"


async def test_right_codes_do_not_count(api: Api, rt: Runtime) -> None:
    await _shopper(api, rt)
    coupon = await factories.coupon(rt, "REAL10", value=1000)
    await _guess(api, 9)
    for _ in range(12):
        assert (await _apply(api, "real10")).status_code == 200
        assert (await api.delete(f"/api/cart/coupons/{coupon.id}")).status_code == 200
    await _guess(api, 1, start=9)  # the tenth failure
    _refused(await _apply(api, "REAL10"))


async def test_refusals_about_the_cart_do_not_count(api: Api, rt: Runtime) -> None:
    await _shopper(api, rt)
    await factories.coupon(rt, "BIGSPEND", value=1000, minimum_order_amount=100_000)
    for _ in range(15):
        r = await _apply(api, "BIGSPEND")
        assert r.status_code == 422 and error_code(r) == "coupon_minimum_not_met"


async def test_one_address_guessing_through_many_sessions_is_refused(
    api: Api, rt: Runtime, new_api: Any
) -> None:
    callers = [api, *[await new_api() for _ in range(3)]]
    for caller in callers:
        await _shopper(caller, rt)
    for n, caller in enumerate(callers[:3]):
        await _guess(caller, 10, start=10 * n)
    _refused(await _apply(callers[3], "GUESS9999"))  # a fresh session, same address
    scopes = sorted(tuple(row.meta["scopes"]) for row in await _audited(rt))
    assert scopes == [("address", "session"), ("session",), ("session",)]


async def test_concurrent_guesses_check_no_more_than_the_limit(api: Api, rt: Runtime) -> None:
    await _shopper(api, rt)
    answers = await asyncio.gather(*(_apply(api, f"GUESS{i:04d}") for i in range(15)))
    codes = sorted(error_code(r) for r in answers)
    assert codes == ["coupon_attempts_exceeded"] * 5 + ["coupon_not_found"] * 10
    assert len(await _audited(rt)) == 1
