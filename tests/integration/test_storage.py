from __future__ import annotations

from typing import Any

from tests import factories
from tillpoint.auth.guest_sessions import start_guest_session
from tillpoint.bootstrap import build_runtime
from tillpoint.cart import cache as cart_cache
from tillpoint.cart import service
from tillpoint.config import load_settings
from tillpoint.runtime import Runtime


async def test_migrations_match_models(database_url: str) -> None:
    import asyncio

    from alembic import command

    from tillpoint.migrate import alembic_config

    # Raises if the models and the migrated schema differ (on both backends).
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_cart_service_operations(rt: Runtime) -> None:
    p = await factories.product(rt, price=700)
    _, ctx = await start_guest_session(rt, ip_address="127.0.0.1", user_agent="pytest")
    view = await service.add_item(rt, ctx.cart_id, product_id=p.id, quantity=3)
    assert view.subtotal == 2100
    by_session = await service.get_cart_by_session(rt, ctx.session_id)
    assert by_session is not None and by_session.id == ctx.cart_id
    items = await service.get_cart_items(rt, ctx.cart_id)
    assert [(i.product_id, i.quantity, i.unit_price) for i in items] == [(p.id, 3, 700)]


async def test_redis_cache_serves_reads_and_writes_replace_it(
    rt: Runtime, redis_url: str, settings: Any, clock: Any
) -> None:
    cached_rt = build_runtime(
        load_settings(**{**settings.model_dump(), "redis_url": redis_url}), clock=clock
    )
    try:
        p = await factories.product(cached_rt, price=500)
        _, ctx = await start_guest_session(cached_rt, ip_address=None, user_agent=None)
        await service.add_item(cached_rt, ctx.cart_id, product_id=p.id, quantity=1)
        first = await service.get_cart(cached_rt, ctx.cart_id)
        assert cached_rt.redis is not None
        assert await cached_rt.redis.exists(f"cart:{ctx.cart_id}") == 1
        ttl = await cached_rt.redis.ttl(f"cart:{ctx.cart_id}")
        assert 7000 < ttl <= 7200
        older = await cart_cache.cached(cached_rt, ctx.cart_id)
        written = await service.add_item(cached_rt, ctx.cart_id, product_id=p.id, quantity=2)
        copy = await cart_cache.cached(cached_rt, ctx.cart_id)
        assert copy is not None and copy.version == written.version
        assert [i.quantity for i in copy.items] == [3]
        again = await service.get_cart(cached_rt, ctx.cart_id)
        assert first is not None and again is not None
        assert (first.item_count, again.item_count) == (1, 3)
        # A slower writer's older copy landing last is not served: the version is checked.
        assert older is not None
        await cart_cache.store(cached_rt, older)
        latest = await service.get_cart(cached_rt, ctx.cart_id)
        assert latest is not None and latest.item_count == 3
    finally:
        await cached_rt.close()


async def test_cart_works_when_redis_is_down(rt: Runtime, settings: Any, clock: Any) -> None:
    broken = build_runtime(
        load_settings(**{**settings.model_dump(), "redis_url": "redis://127.0.0.1:1/0"}),
        clock=clock,
    )
    try:
        p = await factories.product(broken)
        _, ctx = await start_guest_session(broken, ip_address=None, user_agent=None)
        await service.add_item(broken, ctx.cart_id, product_id=p.id, quantity=1)
        view = await service.get_cart(broken, ctx.cart_id)
        assert view is not None and view.item_count == 1
    finally:
        await broken.close()


async def test_audit_row_commits_with_its_change_or_not_at_all(rt: Runtime) -> None:
    from sqlalchemy import func, select

    from tillpoint.audit.models import AuditLog
    from tillpoint.audit.service import Actor, AuditEvent, record

    event = AuditEvent("cart_created", "cart", "cart_x", "create", {"n": 1})
    async with rt.db.transaction() as s:
        await record(s, event, Actor(session_id="sid", ip_address="127.0.0.1"), rt.clock.now())
    try:
        async with rt.db.transaction() as s:
            await record(s, event, Actor(), rt.clock.now())
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    async with rt.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(AuditLog)) == 1
