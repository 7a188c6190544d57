"""One session cannot fill a waitlist with arbitrary addresses (each one is e-mailed when
stock returns): joins are limited per session (10 an hour) and per address (30), in
memory and on Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.inventory_support import stocked
from tests.support import Api, error_code
from tillpoint.inventory.models import WaitlistEntry
from tillpoint.runtime import Runtime


@pytest.fixture(params=["memory", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


async def _join(api: Api, product_id: str, n: int) -> httpx.Response:
    return await api.post(
        f"/api/inventory/{product_id}/waitlist", json={"email": f"someone{n}@example.com"}
    )


async def _entries(rt: Runtime) -> int:
    async with rt.db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(WaitlistEntry)) or 0)


async def test_one_session_joins_ten_times_an_hour(api: Api, rt: Runtime) -> None:
    p = await stocked(rt, 0)
    for n in range(10):
        assert (await _join(api, p.id, n)).status_code == 201
    r = await _join(api, p.id, 10)
    assert r.status_code == 429 and error_code(r) == "waitlist_limit_reached", r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert await _entries(rt) == 10


async def test_one_address_joins_thirty_times_an_hour(api: Api, new_api: Any, rt: Runtime) -> None:
    p = await stocked(rt, 0)
    callers = [api, await new_api(), await new_api(), await new_api()]
    for i, caller in enumerate(callers[:3]):
        for n in range(10):
            assert (await _join(caller, p.id, 10 * i + n)).status_code == 201
    r = await _join(callers[3], p.id, 99)
    assert r.status_code == 429 and error_code(r) == "waitlist_limit_reached"
    assert await _entries(rt) == 30
