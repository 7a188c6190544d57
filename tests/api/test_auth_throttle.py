"""Login throttling over HTTP, in memory and on Redis: 5 failures per 15 minutes per
account and per IP, then 429 with Retry-After for 30 minutes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime

WRONG = "definitely-wrong-password"


@pytest.fixture(params=["memory", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


async def _fail(api: Api, email: str, times: int) -> None:
    for _ in range(times):
        r = await api.login(email, WRONG)
        assert r.status_code == 401 and error_code(r) == "invalid_credentials", r.text


async def test_account_is_blocked_after_five_failures_then_unblocked(
    user_api: Api, api: Api, clock: MovableClock, rt: Runtime
) -> None:
    await _fail(api, USER_EMAIL, 5)
    r = await api.login(USER_EMAIL, USER_PASSWORD)  # even the right password
    assert r.status_code == 429 and error_code(r) == "login_blocked"
    assert r.headers["Retry-After"] == "1800"
    clock.advance(minutes=29)
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 60
    clock.advance(minutes=1, seconds=1)
    assert (await api.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    async with rt.db.transaction() as s:
        types = list((await s.scalars(select(AuditLog.event_type))).all())
    assert types.count("login_failed") == 5
    assert types.count("lockout") == 2  # the account key and the IP key


async def test_failures_spread_beyond_the_window_do_not_block(
    user_api: Api, api: Api, clock: MovableClock
) -> None:
    await _fail(api, USER_EMAIL, 4)
    clock.advance(minutes=16)
    await _fail(api, USER_EMAIL, 4)
    assert (await api.login(USER_EMAIL, USER_PASSWORD)).status_code == 200


async def test_one_ip_trying_many_accounts_is_blocked(user_api: Api, api: Api) -> None:
    for i in range(5):
        await _fail(api, f"guess{i}@shop.example.com", 1)
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.status_code == 429 and error_code(r) == "login_blocked"


async def test_unknown_email_is_throttled_like_a_real_one(api: Api) -> None:
    await _fail(api, "nobody@shop.example.com", 5)
    r = await api.login("nobody@shop.example.com", WRONG)
    assert r.status_code == 429


async def test_throttle_is_shared_by_instances_on_redis(
    user_api: Api, api: Api, rt: Runtime, new_api: Any
) -> None:
    from tests.conftest import make_client
    from tillpoint.web.app import create_app

    await _fail(api, USER_EMAIL, 5)
    # A second app instance over the same database and Redis.
    async with make_client(create_app(runtime=rt)) as client:
        other = Api(client)
        await other.start()
        r = await other.login(USER_EMAIL, USER_PASSWORD)
    if rt.redis is not None:
        assert r.status_code == 429
    else:  # without Redis each process keeps its own count
        assert r.status_code == 200
