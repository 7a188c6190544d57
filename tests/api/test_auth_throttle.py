"""Login throttling over HTTP, in memory and on Redis: 5 failures per 15 minutes per
account, 50 per address (most tests here set the address ceiling to 5 as well, to reach
it quickly), then 429 with Retry-After for 30 minutes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime

WRONG = "definitely-wrong-password"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


@pytest.fixture
def settings_overrides(store: dict[str, Any]) -> dict[str, Any]:
    return {**store, "rate_limit_login_per_address": "5/15 minutes"}


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


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification the app runs (the real one, counted)."""
    seen: list[str] = []
    real: Callable[..., Any] = PasswordHasher.verify

    def counted(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> Any:
        seen.append(str(password))
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    return seen


def _refusals_are_429_with_retry_after(responses: list[Any]) -> None:
    for r in responses:
        assert r.status_code == 429 and error_code(r) == "login_blocked", r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["details"]["retry_after"] == int(r.headers["Retry-After"])


async def _audit_types(rt: Runtime) -> list[str]:
    async with rt.db.transaction() as s:
        return list((await s.scalars(select(AuditLog.event_type))).all())


async def test_concurrent_wrong_passwords_check_exactly_the_policy_number(
    user_api: Api, api: Api, rt: Runtime, verifications: list[str]
) -> None:
    results = await asyncio.gather(*(api.login(USER_EMAIL, WRONG) for _ in range(15)))
    assert verifications.count(WRONG) == 5
    assert sorted(r.status_code for r in results) == [401] * 5 + [429] * 10
    _refusals_are_429_with_retry_after([r for r in results if r.status_code == 429])
    types = await _audit_types(rt)
    assert types.count("login_failed") == 5
    assert types.count("lockout") == 2  # the account key and the IP key, once each
    r = await api.login(USER_EMAIL, USER_PASSWORD)  # blocked now, right password or not
    assert r.status_code == 429 and r.headers["Retry-After"] == "1800"
    assert USER_PASSWORD not in verifications


async def test_concurrent_guesses_at_many_accounts_from_one_ip_check_five(
    api: Api, rt: Runtime, verifications: list[str]
) -> None:
    emails = [f"guess{i}@shop.example.com" for i in range(15)]
    results = await asyncio.gather(*(api.login(e, WRONG) for e in emails))
    assert len(verifications) == 5
    assert sorted(r.status_code for r in results) == [401] * 5 + [429] * 10
    _refusals_are_429_with_retry_after([r for r in results if r.status_code == 429])


async def test_concurrent_guesses_through_two_instances_share_the_count_on_redis(
    user_api: Api, rt: Runtime, verifications: list[str]
) -> None:
    from tests.conftest import make_client
    from tillpoint.web.app import create_app

    async with (
        make_client(create_app(runtime=rt)) as one,
        make_client(create_app(runtime=rt)) as two,
    ):
        callers = [Api(one), Api(two)]
        for caller in callers:
            await caller.start()
        results = await asyncio.gather(
            *(callers[i % 2].login(USER_EMAIL, WRONG) for i in range(15))
        )
    # On Redis the two instances share one count; in memory each keeps its own.
    checked = 5 if rt.redis is not None else 10
    assert verifications.count(WRONG) == checked
    assert sorted(r.status_code for r in results) == [401] * checked + [429] * (15 - checked)


async def test_concurrent_right_password_logins_are_not_refused(
    user_api: Api, new_api: Any, verifications: list[str]
) -> None:
    callers = [await new_api() for _ in range(4)]
    results = await asyncio.gather(*(c.login(USER_EMAIL, USER_PASSWORD) for c in callers))
    assert [r.status_code for r in results] == [200] * 4


async def test_concurrent_registrations_of_taken_emails_count_per_address(
    user_api: Api, new_api: Any, rt: Runtime
) -> None:
    callers = [await new_api() for _ in range(15)]
    results = await asyncio.gather(
        *(c.register(USER_EMAIL, f"{WRONG}-{i}") for i, c in enumerate(callers))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [409] * 5 + [429] * 10, [r.text for r in results]
    _refusals_are_429_with_retry_after([r for r in results if r.status_code == 429])


class TestTheAddressCeiling:
    """The default per-address ceiling (50 failures per 15 minutes) is separate from the
    per-account policy (5): shoppers behind one address are not blocked by each other's
    typos, and one address cannot try a password against more than 50 accounts."""

    @pytest.fixture
    def settings_overrides(self, store: dict[str, Any]) -> dict[str, Any]:
        return store

    async def test_a_crowd_behind_one_address_is_not_blocked_by_its_typos(
        self, user_api: Api, api: Api
    ) -> None:
        for i in range(20):  # twenty colleagues, one mistyped password each
            await _fail(api, f"colleague{i}@shop.example.com", 1)
        assert (await api.login(USER_EMAIL, USER_PASSWORD)).status_code == 200

    async def test_one_address_spraying_accounts_is_stopped_at_the_ceiling(
        self, user_api: Api, api: Api, verifications: list[str]
    ) -> None:
        emails = [f"victim{i}@shop.example.com" for i in range(60)]
        results = [await api.login(e, WRONG) for e in emails]
        assert verifications.count(WRONG) == 50
        assert [r.status_code for r in results] == [401] * 50 + [429] * 10
        _refusals_are_429_with_retry_after(results[50:])
        r = await api.login(USER_EMAIL, USER_PASSWORD)  # the address is blocked now
        assert r.status_code == 429 and r.headers["Retry-After"] == "1800"
