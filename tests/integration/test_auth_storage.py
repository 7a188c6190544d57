"""Accounts and registered sessions against the real database and Redis."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from tests import factories
from tests.support import MovableClock
from tillpoint.auth import service, session_cache, sessions
from tillpoint.auth.models import RefreshToken, RegisteredSession, User
from tillpoint.auth.service import Client
from tillpoint.auth.throttle import LoginThrottle, ThrottlePolicy
from tillpoint.cart.merge import merge_carts
from tillpoint.cart.models import AppliedCoupon, Cart
from tillpoint.cart.service import add_item, create_cart
from tillpoint.checkout.service import adopt_checkouts
from tillpoint.config import RefreshPolicy
from tillpoint.errors import Unauthorized
from tillpoint.runtime import Runtime
from tillpoint.security.attempts import MemoryAttempts, RedisAttempts
from tillpoint.sweeper import run_sweep

PASSWORD = "plum-orchard-lantern-7"
POLICY = ThrottlePolicy(max_failures=5, window_seconds=900, block_seconds=1800)
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _with(rt: Runtime, **settings: Any) -> Runtime:
    """The same database and clock under other settings."""
    return dataclasses.replace(rt, settings=rt.settings.model_copy(update=settings))


async def _signed_in(rt: Runtime, email: str = "it@shop.example.com") -> service.SignedIn:
    await service.create_user(rt, email=email, password=PASSWORD)
    return await service.login(
        rt,
        LoginThrottle(MemoryAttempts(), POLICY),
        email=email,
        password=PASSWORD,
        client=Client(),
        adopt=adopt_checkouts,
    )


async def test_login_rehashes_when_argon2_parameters_change(rt: Runtime) -> None:
    user = await service.create_user(rt, email="rehash@shop.example.com", password=PASSWORD)
    async with rt.db.transaction() as s:
        before = (await s.get(User, user.id)).password_hash  # type: ignore[union-attr]
    stronger = _with(rt, argon2_time_cost=2)
    await service.login(
        stronger,
        LoginThrottle(MemoryAttempts(), POLICY),
        email=user.email,
        password=PASSWORD,
        client=Client(),
        adopt=adopt_checkouts,
    )
    async with rt.db.transaction() as s:
        after = (await s.get(User, user.id)).password_hash  # type: ignore[union-attr]
    assert before != after and ",t=2," in after and ",t=1," in before
    # and the new hash still logs in
    await service.login(
        stronger,
        LoginThrottle(MemoryAttempts(), POLICY),
        email=user.email,
        password=PASSWORD,
        client=Client(),
        adopt=adopt_checkouts,
    )


async def test_refresh_tokens_are_stored_only_as_digests(rt: Runtime) -> None:
    signed = await _signed_in(rt)
    async with rt.db.transaction() as s:
        stored = (await s.scalars(select(RefreshToken.id))).all()
        row = await s.get(RegisteredSession, signed.context.session_id)
    assert signed.refresh_token not in stored and len(stored) == 1
    assert row is not None and signed.session_token not in {row.id}


async def test_fixed_policy_does_not_slide(rt: Runtime, clock: MovableClock) -> None:
    fixed = _with(rt, session_refresh_policy=RefreshPolicy.fixed)
    signed = await _signed_in(fixed)
    clock.advance(days=6)
    rotated = await service.refresh(
        fixed,
        session_token=signed.session_token,
        refresh_token=signed.refresh_token,
        client=Client(),
    )
    assert rotated.context.expires_at == signed.context.expires_at
    clock.advance(days=1, seconds=1)
    with pytest.raises(Unauthorized) as err:
        await service.refresh(
            fixed,
            session_token=signed.session_token,
            refresh_token=rotated.refresh_token,
            client=Client(),
        )
    assert err.value.code == "session_expired"


async def test_revocation_wins_over_a_late_cache_write(rt: Runtime, redis_url: str) -> None:
    cached_rt = _with(rt, redis_url=redis_url)
    cached_rt.redis = Redis.from_url(redis_url)
    try:
        signed = await _signed_in(cached_rt)
        live = await sessions.load_session(cached_rt, signed.session_token)
        assert live is not None
        await service.logout(cached_rt, session_token=signed.session_token, client=Client())
        # A slow request that read the session before the logout writes it back afterwards.
        await session_cache.store(cached_rt, live)
        assert await sessions.load_session(cached_rt, signed.session_token) is None
    finally:
        await cached_rt.redis.aclose()


async def test_sessions_work_when_redis_is_down(rt: Runtime) -> None:
    broken = dataclasses.replace(rt, redis=Redis.from_url(DEAD_REDIS, socket_connect_timeout=0.2))
    try:
        signed = await _signed_in(broken)
        assert await sessions.load_session(broken, signed.session_token) is not None
        await service.logout(broken, session_token=signed.session_token, client=Client())
        assert await sessions.load_session(broken, signed.session_token) is None
    finally:
        await broken.redis.aclose()  # type: ignore[union-attr]


async def _fail(throttle: LoginThrottle, keys: list[str], clock: MovableClock) -> list[str]:
    attempt = await throttle.begin(keys, clock.now())
    assert attempt.admitted
    return await throttle.failed(attempt, clock.now())


async def test_redis_throttle_blocks_across_instances_by_the_clock(
    redis_url: str, clock: MovableClock
) -> None:
    a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        one = LoginThrottle(RedisAttempts(a, "tp:login:"), POLICY)
        two = LoginThrottle(RedisAttempts(b, "tp:login:"), POLICY)
        for _ in range(4):
            assert await _fail(one, ["acct:x"], clock) == []
        assert await _fail(two, ["acct:x"], clock) == ["acct:x"]
        assert (await one.begin(["acct:x"], clock.now())).retry_after == 1800
        clock.advance(minutes=30)
        assert (await two.begin(["acct:x"], clock.now())).admitted
        assert await _fail(one, ["acct:x"], clock) == []  # counting anew
    finally:
        await a.aclose()
        await b.aclose()


async def test_redis_throttle_falls_back_to_memory_when_redis_is_down(
    clock: MovableClock,
) -> None:
    client = Redis.from_url(DEAD_REDIS, socket_connect_timeout=0.2)
    try:
        throttle = LoginThrottle(RedisAttempts(client, "tp:login:"), POLICY)
        for _ in range(5):
            await _fail(throttle, ["ip:1"], clock)
        assert (await throttle.begin(["ip:1"], clock.now())).retry_after == 1800
    finally:
        await client.aclose()


async def test_merge_drops_coupons_that_no_longer_hold(rt: Runtime, clock: MovableClock) -> None:
    from tillpoint.cart.coupons import apply_coupon

    mug = await factories.product(rt, price=5000)
    short = await factories.coupon(rt, "ENDSSOON", end_date=clock.now() + timedelta(minutes=5))
    lasting = await factories.coupon(rt, "LASTING", combinable=True)
    async with rt.db.transaction() as s:
        source = await create_cart(rt, s)
        target = await create_cart(rt, s)
    await add_item(rt, source.id, product_id=mug.id, quantity=1)
    await apply_coupon(rt, source.id, short.code)
    clock.advance(minutes=10)  # the guest's coupon has ended by the time they log in
    async with rt.db.transaction() as s:
        report = await merge_carts(rt, s, source_id=source.id, target_id=target.id)
    assert report.coupons_dropped == [short.id] and report.added == [mug.id]
    # A custom check plugs in through the same seam.
    await apply_coupon(rt, target.id, lasting.code)
    async with rt.db.transaction() as s:
        other = await create_cart(rt, s)
    await add_item(rt, other.id, product_id=mug.id, quantity=1)

    async def refuse_everything(_rt: Runtime, _s: Any, cart: Cart) -> list[AppliedCoupon]:
        return list(cart.coupons)

    async with rt.db.transaction() as s:
        report = await merge_carts(
            rt, s, source_id=other.id, target_id=target.id, revalidate=refuse_everything
        )
    assert report.coupons_dropped == [lasting.id] and report.combined == [mug.id]
    async with rt.db.transaction() as s:
        merged = await s.get(Cart, target.id)
        assert merged is not None and merged.coupons == []


async def test_sweeper_removes_expired_and_old_revoked_sessions(
    rt: Runtime, clock: MovableClock
) -> None:
    kept = await _signed_in(rt, "kept@shop.example.com")
    revoked = await _signed_in(rt, "revoked@shop.example.com")
    await service.logout(rt, session_token=revoked.session_token, client=Client())
    clock.advance(days=2)
    assert (await run_sweep(rt))["registered_sessions"] == 1
    clock.advance(days=6)
    assert (await run_sweep(rt))["registered_sessions"] == 1
    async with rt.db.transaction() as s:
        assert (await s.scalars(select(RegisteredSession.id))).all() == []
        assert (await s.scalars(select(RefreshToken.id))).all() == []
    assert kept.context.session_id != revoked.context.session_id


async def test_expired_sessions_cannot_be_refreshed_even_if_unswept(
    rt: Runtime, clock: MovableClock
) -> None:
    signed = await _signed_in(rt)
    clock.advance(days=8)
    with pytest.raises(Unauthorized) as err:
        await service.refresh(
            rt,
            session_token=signed.session_token,
            refresh_token=signed.refresh_token,
            client=Client(),
        )
    assert err.value.code == "session_expired"
    assert timedelta(days=7) == timedelta(seconds=rt.settings.session_ttl_seconds)


async def test_guest_checkout_data_carries_over_to_the_registered_session(rt: Runtime) -> None:
    from tillpoint.auth.guest_sessions import save_checkout_data, start_guest_session

    token, guest = await start_guest_session(rt, ip_address=None, user_agent=None)
    await save_checkout_data(rt, guest.session_id, {"state": "shipping_address", "email": "x"})
    await service.create_user(rt, email="carry@shop.example.com", password=PASSWORD)
    signed = await service.login(
        rt,
        LoginThrottle(MemoryAttempts(), POLICY),
        email="carry@shop.example.com",
        password=PASSWORD,
        client=Client(session_token=token),
        adopt=adopt_checkouts,
    )
    async with rt.db.transaction() as s:
        row = await s.get(RegisteredSession, signed.context.session_id)
        assert row is not None and row.checkout_data == {"state": "shipping_address", "email": "x"}
    await save_checkout_data(rt, signed.context.session_id, {"state": "billing_address"})
    async with rt.db.transaction() as s:
        row = await s.get(RegisteredSession, signed.context.session_id, populate_existing=True)
        assert row is not None and row.checkout_data == {"state": "billing_address"}
