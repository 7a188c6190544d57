"""Background clean-up: expired sessions and carts (features add their own jobs here).

Each job claims its rows safely for several instances (``SKIP LOCKED`` on
PostgreSQL), so every app instance may run the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tillpoint.auth.public import (
    delete_expired_registered_sessions,
    delete_expired_sessions,
    delete_stale_account_tokens,
)
from tillpoint.cart.public import delete_expired_carts
from tillpoint.checkout.public import (
    expire_checkouts,
    finalize_stuck_payments,
    release_lapsed_holds,
)
from tillpoint.checkout_sessions.public import expire_due_sessions
from tillpoint.inventory.public import expire_reservations, notify_waitlists
from tillpoint.outbox.service import deliver_outbox
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import deliver_webhooks

log = logging.getLogger(__name__)

Job = Callable[[Runtime], Awaitable[int]]

JOBS: dict[str, Job] = {
    "guest_sessions": delete_expired_sessions,
    "carts": delete_expired_carts,
    "checkout_sessions": expire_due_sessions,  # before checkouts: theirs expire with them
    "checkouts": expire_checkouts,
    "registered_sessions": delete_expired_registered_sessions,
    "account_tokens": delete_stale_account_tokens,
    "inventory_reservations": expire_reservations,
    "coupon_holds": release_lapsed_holds,  # after the stock they live with
    "inventory_waitlist": notify_waitlists,
    "payments": finalize_stuck_payments,
    "outbox": deliver_outbox,
    "webhooks": deliver_webhooks,
}


async def run_sweep(rt: Runtime) -> dict[str, int]:
    """Run every job once; returns how many rows each one handled."""
    results: dict[str, int] = {}
    for name, job in JOBS.items():
        try:
            results[name] = await job(rt)
        except Exception:  # one failing job must not stop the others
            log.exception("sweep job failed", extra={"job": name})
            results[name] = -1
    return results


async def sweep_forever(rt: Runtime, interval: float) -> None:
    """Sweep every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        results = await run_sweep(rt)
        if any(results.values()):
            log.info("swept", extra={"results": results})
