"""Where a checkout event's CPU goes, part by part: ``python -m bench.event_phases``.

Builds a guest with a checkout at order review on ``--database-url`` (prepared by
``tillpoint bench prepare``), then sends EDIT_PAYMENT and SELECT_PAYMENT in turn
``--events`` times straight into the ASGI app with the parts of the path wrapped in
process-CPU counters (one caller, so nothing else runs between a part's start and end).
Prints JSON: the whole event's CPU and each part's, in µs per event. Parts nest
(``_drive`` holds ``_step``, which holds the cart read), so they do not add up.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from bench.flows import CARD
from bench.queries import in_process_parser, in_process_settings, parse_in_process
from bench.request_cost import guest_at_order_review

spent: Counter[str] = Counter()


def _timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` (a coroutine function) by one that adds its CPU to ``label``."""
    inner: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(inner)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return await inner(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - start

    setattr(owner, name, timed)


def _instrument() -> None:
    import fastapi.dependencies.utils as dependencies
    import fastapi.routing as routing

    import tillpoint.checkout.service as service
    from tillpoint.security.ratelimit import RateLimiter
    from tillpoint.web.security_middleware import RateLimitMiddleware

    parts = {
        "rate limits (one Redis round trip)": (RateLimiter, "consume_many_and_read"),
        "everything inside the rate-limit middleware": (RateLimitMiddleware, "_limited"),
        "FastAPI: dependencies": (dependencies, "solve_dependencies"),
        "FastAPI: response model": (routing, "serialize_response"),
        "service: the unit of work (_drive)": (service, "_drive"),
        "service: the step (_step)": (service, "_step"),
        "service: locked checkout read": (service, "_lock_detached"),
        "service: cart and stock read": (service, "load_cart_facts"),
        "service: pricing": (service, "try_price"),
        "service: audit append (+ the checkout's UPDATE)": (service, "_audit"),
    }
    for label, (owner, name) in parts.items():
        _timed(owner, name, label)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    _instrument()  # before the app is built: routes capture what they call
    from tillpoint.bootstrap import build_runtime
    from tillpoint.web.app import create_app

    rt = build_runtime(in_process_settings(args.database_url, args.redis_url))
    app = create_app(runtime=rt)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            cid = await guest_at_order_review(client, "phases@example.com")
            events = f"/api/checkout/{cid}/events"
            # At order review: back and forth, EDIT_PAYMENT then SELECT_PAYMENT again.
            back_and_forth = [
                {"type": "EDIT_PAYMENT"},
                {"type": "SELECT_PAYMENT", "payment_method": CARD},
            ]

            async def run(n: int) -> float:
                start = time.process_time()
                for i in range(n):
                    r = await client.post(events, json=back_and_forth[i % 2])
                    r.raise_for_status()
                return time.process_time() - start

            await run(100)  # warm caches and code paths
            spent.clear()
            total = await run(args.events)
    finally:
        await rt.close()
    per_event = {label: round(s / args.events * 1e6) for label, s in spent.most_common()}
    return {
        "events": args.events,
        "cpu_us_per_event": round(total / args.events * 1e6),
        "parts_cpu_us_per_event": per_event,
    }


def main(argv: list[str] | None = None) -> int:
    p = in_process_parser("python -m bench.event_phases", __doc__)
    p.add_argument("--events", type=int, default=400)
    args = parse_in_process(p, argv)
    print(json.dumps(asyncio.run(measure(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
