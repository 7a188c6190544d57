"""Guest sessions without and with the Redis guest-session cache: the cached copy opens
the same session the row does, slides the expiry through the database, never outlives
the row's expiry, and a guest session deleted by sign-in is not opened by a cached copy."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support import Api, MovableClock, error_code
from tillpoint.auth import guest_session_cache as guest_cache
from tillpoint.auth.models import GuestSession
from tillpoint.auth.tokens import session_id_for
from tillpoint.runtime import Runtime


@pytest.fixture(params=["db-only", "redis-cache"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis-cache":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


def _session_id(api: Api) -> str:
    token = api.client.cookies.get("tp-session")
    assert token, "no session cookie"
    return session_id_for(token)


async def _row_expiry(rt: Runtime, sid: str) -> Any:
    async with rt.db.transaction() as s:
        return await s.scalar(select(GuestSession.expires_at).where(GuestSession.id == sid))


async def test_cached_session_opens_the_same_cart(api: Api, rt: Runtime) -> None:
    sid = _session_id(api)
    if rt.redis is not None:  # cached when it was started
        assert await rt.redis.exists(guest_cache.PREFIX + sid)
    for _ in range(3):
        r = await api.get("/api/cart")
        assert r.status_code == 200, r.text
        assert r.json()["id"] == api.session["cart_id"]


async def test_expiry_slides_in_the_database_with_a_cache(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    sid = _session_id(api)
    first = await _row_expiry(rt, sid)
    clock.advance(minutes=30)  # under the slide granularity: nothing to write
    assert (await api.get("/api/cart")).status_code == 200
    assert await _row_expiry(rt, sid) == first
    clock.advance(hours=2)
    assert (await api.get("/api/cart")).status_code == 200
    slid = await _row_expiry(rt, sid)
    assert slid > first
    # Six more days idle from the slide still opens it: the copy was refreshed too.
    clock.advance(days=6, hours=23)
    assert (await api.get("/api/cart")).status_code == 200


async def test_cached_copy_never_outlives_the_expiry(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    assert (await api.get("/api/cart")).status_code == 200
    clock.advance(days=7, seconds=1)
    r = await api.get("/api/cart")
    assert r.status_code == 401 and error_code(r) == "session_required"


async def test_guest_session_ended_by_login_is_not_reopened_from_the_cache(
    user_api: Api, api: Api, rt: Runtime, new_api: Any
) -> None:
    assert (await api.get("/api/cart")).status_code == 200  # cached now, with Redis
    guest_cookies = dict(api.client.cookies.items())
    sid = _session_id(api)
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.status_code == 200, r.text
    assert await _row_expiry(rt, sid) is None  # the row is gone
    if rt.redis is not None:
        assert await rt.redis.exists(guest_cache.GONE_PREFIX + sid)
    replay: Api = await new_api(start=False)
    for name, value in guest_cookies.items():
        replay.client.cookies.set(name, value)
    r = await replay.get("/api/cart")
    assert r.status_code == 401 and error_code(r) == "session_required"


# Only with Redis: the fixture's db-only variant has no cache to read (a skip fails CI).
@pytest.mark.parametrize("settings_overrides", ["redis-cache"], indirect=True)
async def test_a_guest_request_reads_its_session_with_the_rate_limit_counts(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis, the rate limiter's script also reads the guest-session cache keys, so
    the session lookup makes no Redis round trip of its own."""
    assert rt.redis is not None
    assert (await api.get("/api/cart")).status_code == 200  # the copy is cached
    reads: list[Any] = []
    real_mget = rt.redis.mget

    async def counting_mget(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return await real_mget(*args, **kwargs)

    monkeypatch.setattr(rt.redis, "mget", counting_mget)
    r = await api.get("/api/cart")
    assert r.status_code == 200 and r.json()["id"] == api.session["cart_id"]
    assert reads == []
