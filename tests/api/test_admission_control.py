"""Admission control through the whole app: a burst far over the cap all succeeds, and no
more than the cap ever runs at once (counted by a probe inside the middleware stack)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.middleware import Middleware

from tests import factories
from tests.support import Api

CAP = 2


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_inflight_requests": CAP, "admission_queue_timeout_seconds": 60}


class Probe:
    """Innermost middleware: counts requests that are past admission control and running."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.running = 0
        self.peak = 0
        self.seen = 0
        Probe.instance = self

    instance: Probe

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.running += 1
        self.seen += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(0.002)  # hold the slot a moment so the burst really overlaps
            await self.app(scope, receive, send)
        finally:
            self.running -= 1


async def test_a_burst_over_the_cap_all_succeeds_within_the_cap(
    app: Any, api: Api, new_api: Any, rt: Any
) -> None:
    app.user_middleware.append(Middleware(Probe))  # last = innermost, inside admission
    app.middleware_stack = None  # rebuilt with the probe on the next request
    product = await factories.product(rt, price=1500)
    callers = [api, *[await new_api() for _ in range(5)]]
    probe = Probe.instance
    started = probe.seen

    async def shop(caller: Api, n: int) -> list[int]:
        statuses = []
        for _ in range(3):
            r = await caller.post("/api/cart/items", json={"product_id": product.id, "quantity": 1})
            statuses.append(r.status_code)
            statuses.append((await caller.get(f"/api/products/{product.id}")).status_code)
        statuses.append((await caller.get("/api/cart")).status_code)
        return statuses

    results = await asyncio.gather(*(shop(callers[n % len(callers)], n) for n in range(24)))
    assert all(status == 200 for statuses in results for status in statuses), results
    assert probe.seen - started == 24 * 7
    assert probe.peak == CAP  # saturated, and never above the cap
    for caller in callers:
        cart = (await caller.get("/api/cart")).json()
        assert cart["totals"]["item_count"] == 3 * sum(
            1 for n in range(24) if callers[n % len(callers)] is caller
        )
    health = await api.client.get("/healthz")
    assert health.status_code == 200
    metrics = (await api.client.get("/metrics")).text
    assert 'tillpoint_admission_wait_seconds_count{lane="shop"}' in metrics
