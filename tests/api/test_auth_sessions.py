"""Registered sessions over HTTP, without and with the Redis session cache:
access-token expiry, sliding sessions, refresh rotation and reuse detection,
logout and logout-all revocation, forged tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.auth import session_cache
from tillpoint.auth.tokens import session_id_for, signing_key
from tillpoint.runtime import Runtime


@pytest.fixture(params=["db-only", "redis-cache"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis-cache":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


def _cookie(api: Api, name: str) -> str:
    value = api.client.cookies.get(name)
    assert value, f"no {name} cookie"
    return value


async def _audit_types(rt: Runtime) -> list[str]:
    from sqlalchemy import select

    async with rt.db.transaction() as s:
        return list((await s.scalars(select(AuditLog.event_type))).all())


async def test_access_token_expires_and_refresh_restores_it(
    user_api: Api, clock: MovableClock
) -> None:
    clock.advance(minutes=61)
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "access_token_expired"
    r = await user_api.post("/api/auth/refresh")
    assert r.status_code == 200, r.text
    assert (await user_api.get("/api/auth/me")).status_code == 200


async def test_session_slides_with_activity(user_api: Api, clock: MovableClock) -> None:
    for _ in range(3):  # 18 days in all, never 7 days idle
        clock.advance(days=6)
        r = await user_api.post("/api/auth/refresh")
        assert r.status_code == 200, r.text
        assert (await user_api.get("/api/auth/me")).status_code == 200


async def test_idle_session_ends_after_seven_days(user_api: Api, clock: MovableClock) -> None:
    clock.advance(days=7, seconds=1)
    r = await user_api.post("/api/auth/refresh")
    assert r.status_code == 401 and error_code(r) == "session_expired"
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "session_expired"
    # The page recovers by starting a guest session.
    assert (await user_api.start())["kind"] == "guest"


async def test_sliding_stops_at_the_maximum_lifetime(user_api: Api, clock: MovableClock) -> None:
    for _ in range(4):  # 24 days
        clock.advance(days=6)
        assert (await user_api.post("/api/auth/refresh")).status_code == 200
    clock.advance(days=6, seconds=1)  # 30 days after login
    r = await user_api.post("/api/auth/refresh")
    assert r.status_code == 401 and error_code(r) == "session_expired"


async def test_refresh_rotates_the_refresh_token(user_api: Api) -> None:
    first = _cookie(user_api, "tp-refresh")
    access = _cookie(user_api, "tp-access")
    assert (await user_api.post("/api/auth/refresh")).status_code == 200
    second = _cookie(user_api, "tp-refresh")
    assert second != first and _cookie(user_api, "tp-access") != access
    assert (await user_api.post("/api/auth/refresh")).status_code == 200
    assert _cookie(user_api, "tp-refresh") not in {first, second}


async def test_reused_refresh_token_revokes_the_whole_family(user_api: Api, rt: Runtime) -> None:
    stolen = _cookie(user_api, "tp-refresh")
    assert (await user_api.post("/api/auth/refresh")).status_code == 200  # the real user rotates
    assert (await user_api.get("/api/auth/me")).status_code == 200  # and is cached, if Redis
    # The thief replays the stolen (already rotated) token.
    user_api.set_cookie("tp-refresh", stolen, path="/api/auth")
    r = await user_api.post("/api/auth/refresh")
    assert r.status_code == 401 and error_code(r) == "refresh_token_reused"
    # Every token of the family is dead, and so is the session — at once.
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "session_expired"
    assert "refresh_token_reuse" in await _audit_types(rt)


async def test_refresh_without_or_with_unknown_token_is_401(user_api: Api) -> None:
    user_api.set_cookie("tp-refresh", "made-up", path="/api/auth")
    r = await user_api.post("/api/auth/refresh")
    assert r.status_code == 401 and error_code(r) == "invalid_refresh_token"
    user_api.client.cookies.delete("tp-refresh")
    r = await user_api.post("/api/auth/refresh")
    assert r.status_code == 401 and error_code(r) == "invalid_refresh_token"


async def test_refresh_token_of_another_session_is_refused(user_api: Api, new_api: Any) -> None:
    other: Api = await new_api()
    assert (await other.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    user_api.set_cookie("tp-refresh", _cookie(other, "tp-refresh"), path="/api/auth")
    r = await user_api.post("/api/auth/refresh")
    assert r.status_code == 401 and error_code(r) == "invalid_refresh_token"


async def test_logout_revokes_at_once_even_when_cached(
    user_api: Api, rt: Runtime, new_api: Any
) -> None:
    assert (await user_api.get("/api/auth/me")).status_code == 200
    session = _cookie(user_api, "tp-session")
    if rt.redis is not None:  # the session is in the cache now
        assert await rt.redis.exists(session_cache.PREFIX + session_id_for(session))
    cookies = dict(user_api.client.cookies.items())
    assert (await user_api.logout()).status_code == 200
    # Replaying the old cookies (a copy kept by someone) finds the session ended.
    replay: Api = await new_api(start=False)
    for name, value in cookies.items():
        replay.client.cookies.set(name, value)
    r = await replay.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "session_expired"


async def test_logout_all_ends_every_device(user_api: Api, new_api: Any) -> None:
    phone: Api = await new_api()
    assert (await phone.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    assert (await phone.get("/api/auth/me")).status_code == 200
    r = await user_api.post("/api/auth/logout-all")
    assert r.status_code == 200, r.text
    assert r.json()["sessions_ended"] == 2 and r.json()["kind"] == "guest"
    user_api.adopt(r.json())
    r = await phone.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "session_expired"
    assert (await phone.post("/api/auth/refresh")).status_code == 401
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "login_required"


async def test_logout_works_with_an_expired_access_token(
    user_api: Api, clock: MovableClock
) -> None:
    clock.advance(hours=2)
    r = await user_api.logout()
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_access_token_is_refused(admin_api: Api) -> None:
    genuine = _cookie(admin_api, "tp-access")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    admin_api.set_cookie("tp-access", f"{_b64({'alg': 'none'})}.{_b64(claims)}.")
    r = await admin_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "invalid_access_token"


async def test_tampered_access_token_is_refused(user_api: Api) -> None:
    header, payload, signature = _cookie(user_api, "tp-access").split(".")
    claims = jwt.decode(f"{header}.{payload}.{signature}", options={"verify_signature": False})
    claims["role"] = "admin"
    user_api.set_cookie("tp-access", f"{header}.{_b64(claims)}.{signature}")
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "invalid_access_token"


async def test_access_token_is_bound_to_its_session(
    user_api: Api, admin_api: Api, rt: Runtime
) -> None:
    # A genuine token (right key) for another session does not open this one.
    user_api.set_cookie("tp-access", _cookie(admin_api, "tp-access"))
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "invalid_access_token"
    # Nor does a self-made token claiming admin for this session without our key.
    claims = jwt.decode(_cookie(admin_api, "tp-access"), options={"verify_signature": False})
    claims["sid"] = session_id_for(_cookie(user_api, "tp-session"))
    forged = jwt.encode(claims, b"k" * 32, algorithm="HS256")
    user_api.set_cookie("tp-access", forged)
    assert (await user_api.get("/api/auth/me")).status_code == 401
    assert signing_key(rt.settings.resolved_secret_key) != b"k" * 32


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_access_token_from_the_future_is_refused(
    user_api: Api, rt: Runtime, clock: MovableClock, claim: str
) -> None:
    # Signed with our own key, for this very session: only the time claim is wrong.
    claims = jwt.decode(_cookie(user_api, "tp-access"), options={"verify_signature": False})
    claims[claim] = int(clock.now().timestamp()) + 600
    key = signing_key(rt.settings.resolved_secret_key)
    user_api.set_cookie("tp-access", jwt.encode(claims, key, algorithm="HS256"))
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "invalid_access_token"


async def test_missing_access_token_asks_for_a_refresh(user_api: Api) -> None:
    user_api.client.cookies.delete("tp-access")
    r = await user_api.get("/api/cart")
    assert r.status_code == 401 and error_code(r) == "access_token_expired"
    assert (await user_api.post("/api/auth/refresh")).status_code == 200
    assert (await user_api.get("/api/cart")).status_code == 200


async def test_session_endpoint_continues_a_registered_session(user_api: Api) -> None:
    body = await user_api.start()
    assert body["kind"] == "registered" and body["user_id"]
    assert (await user_api.get("/api/auth/me")).status_code == 200


# Only with Redis: the fixture's db-only variant has no cache to read (a skip fails CI).
@pytest.mark.parametrize("settings_overrides", ["redis-cache"], indirect=True)
async def test_a_registered_request_reads_its_session_with_the_rate_limit_counts(
    user_api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis, the rate limiter's script also reads the session cache keys, so the
    session lookup makes no Redis round trip of its own."""
    assert rt.redis is not None
    assert (await user_api.get("/api/auth/me")).status_code == 200  # the copy is cached
    reads: list[Any] = []
    real_mget = rt.redis.mget

    async def counting_mget(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return await real_mget(*args, **kwargs)

    monkeypatch.setattr(rt.redis, "mget", counting_mget)
    r = await user_api.get("/api/cart")
    assert r.status_code == 200, r.text
    assert reads == []
