"""Webhook intake throughput: verify the Stripe signature, record the event id once, run
the in-transaction handlers; then the same events replayed (the no-op path). Prints JSON.

    .venv/bin/python -m bench.webhooks [--events 500] [--database-url URL]

Default database: a fresh, migrated SQLite file in a temporary folder. The events are
``charge.succeeded`` (recorded, no handler) so the number is the intake's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from tillpoint.bootstrap import build_runtime
from tillpoint.config import load_settings
from tillpoint.ids import new_id
from tillpoint.migrate import upgrade
from tillpoint.payments.sandbox import SandboxGateway, sign_payload
from tillpoint.payments.webhooks import process_webhook

SECRET = "whsec_bench"


def _event(n: int) -> bytes:
    return json.dumps(
        {
            "id": new_id("evt"),
            "object": "event",
            "type": "charge.succeeded",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": f"ch_{n}", "object": "charge", "amount": 1000}},
        }
    ).encode()


async def _run(url: str, count: int) -> dict[str, object]:
    settings = load_settings(
        database_url=url, secret_key="bench-secret-key-long-enough-0123456789", log_level="ERROR"
    )
    rt = build_runtime(settings)
    gateway = SandboxGateway(SECRET)
    bodies = [_event(n) for n in range(count)]
    signed = [(b, sign_payload(b, SECRET, int(time.time()))) for b in bodies]
    timings: dict[str, list[float]] = {"first": [], "replay": []}
    try:
        for phase in ("first", "replay"):
            started = time.perf_counter()
            for body, signature in signed:
                t0 = time.perf_counter()
                outcome = await process_webhook(rt, gateway, body, signature)
                timings[phase].append(time.perf_counter() - t0)
                assert outcome.duplicate is (phase == "replay")
            timings[phase + "_wall"] = [time.perf_counter() - started]
    finally:
        await rt.close()
    return {
        "benchmark": "webhook_intake",
        "database": url.split(":", 1)[0],
        "events": count,
        "first_per_second": round(count / timings["first_wall"][0], 1),
        "first_p50_ms": round(statistics.median(timings["first"]) * 1000, 3),
        "first_p95_ms": round(statistics.quantiles(timings["first"], n=20)[18] * 1000, 3),
        "replay_per_second": round(count / timings["replay_wall"][0], 1),
        "replay_p50_ms": round(statistics.median(timings["replay"]) * 1000, 3),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        print(json.dumps(asyncio.run(_run(url, args.events))))


if __name__ == "__main__":
    main()
