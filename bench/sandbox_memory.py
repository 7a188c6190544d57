"""Memory the sandbox gateway keeps per purchase (it stands in for Stripe's servers, so it
keeps every intent, its idempotent answers and customers in process memory for as long as
the worker lives). Prints JSON: ``python -m bench.sandbox_memory [--purchases N]``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tracemalloc

from tillpoint.payments.gateway import CreateIntent
from tillpoint.payments.sandbox import SandboxGateway


async def measure(purchases: int) -> dict[str, float]:
    gateway = SandboxGateway("whsec_bench")

    async def ignore(_payload: bytes, _signature: str) -> None:
        return None

    gateway.subscribe(ignore)
    gc.collect()
    tracemalloc.start()
    for i in range(purchases):
        intent = await gateway.create_payment_intent(
            CreateIntent(
                amount=5000 + i,
                currency="USD",
                idempotency_key=f"co_{i}:1:create",
                metadata={"checkout_id": f"co_{i}", "attempt": "1"},
                payment_method_id="pm_card_visa",
                receipt_email=f"shopper{i}@example.com",
            )
        )
        await gateway.confirm_payment_intent(intent.id, idempotency_key=f"co_{i}:1:pay")
    await gateway.drain()
    gc.collect()
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "purchases": purchases,
        "held_mb": round(held / 1e6, 2),
        "bytes_each": held // purchases,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sandbox_memory", description=__doc__)
    p.add_argument("--purchases", type=int, default=1500)
    print(json.dumps(asyncio.run(measure(p.parse_args().purchases))))


if __name__ == "__main__":
    main()
