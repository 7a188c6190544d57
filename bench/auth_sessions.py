"""Benchmark: the cost of accounts and registered sessions. Prints JSON.

- argon2id hash / verify latency with the configured (default: production) parameters;
- registered-session resolution per request (cookie -> live session -> JWT check), on the
  database alone and with the Redis session cache.

Usage: ``python -m bench.auth_sessions [--requests N]``. Environment:
``TILLPOINT_BENCH_DATABASE_URL`` (default: a temporary SQLite file),
``TILLPOINT_BENCH_REDIS_URL`` (unset: no cache run; the Redis DB named is flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from tillpoint.auth import service
from tillpoint.auth.guest_sessions import resolve_guest_session, start_guest_session
from tillpoint.auth.passwords import hash_password, verify_password
from tillpoint.auth.sessions import resolve_registered_session
from tillpoint.auth.throttle import LoginThrottle, ThrottlePolicy
from tillpoint.bootstrap import build_runtime
from tillpoint.checkout.service import adopt_checkouts
from tillpoint.config import load_settings
from tillpoint.migrate import upgrade
from tillpoint.security.attempts import MemoryAttempts

PASSWORD = "bench-password-plum-7"


async def _argon2(rounds: int) -> dict[str, float]:
    settings = load_settings(secret_key="b" * 40)
    hashes, verifies = [], []
    stored = ""
    for _ in range(rounds):
        t0 = time.perf_counter()
        stored = await hash_password(settings, PASSWORD)
        hashes.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await verify_password(settings, stored, PASSWORD)
        verifies.append(time.perf_counter() - t0)
    return {
        "time_cost": settings.argon2_time_cost,
        "memory_cost_kib": settings.argon2_memory_cost_kib,
        "parallelism": settings.argon2_parallelism,
        "hash_ms_median": round(statistics.median(hashes) * 1000, 1),
        "verify_ms_median": round(statistics.median(verifies) * 1000, 1),
    }


async def _guest_baseline(url: str, requests: int) -> dict[str, Any]:
    """The foundation's guest-session resolution, for comparison."""
    rt = build_runtime(load_settings(database_url=url, secret_key="b" * 40))
    try:
        token, _ = await start_guest_session(rt, ip_address=None, user_agent=None)
        t0 = time.perf_counter()
        for _ in range(requests):
            await resolve_guest_session(rt, token)
        elapsed = time.perf_counter() - t0
    finally:
        await rt.close()
    return {
        "session": "guest",
        "cache": "none",
        "requests": requests,
        "per_second": round(requests / elapsed),
        "us_per_request": round(elapsed / requests * 1e6),
    }


async def _resolve(url: str, redis_url: str | None, requests: int) -> dict[str, Any]:
    settings = load_settings(
        database_url=url,
        redis_url=redis_url,
        secret_key="b" * 40,
        argon2_time_cost=1,
        argon2_memory_cost_kib=1024,
        argon2_parallelism=1,
    )
    rt = build_runtime(settings)
    try:
        if rt.redis is not None:
            await rt.redis.flushdb()
        email = f"bench-{time.time_ns()}@shop.example.com"
        await service.create_user(rt, email=email, password=PASSWORD)
        signed = await service.login(
            rt,
            LoginThrottle(MemoryAttempts(), ThrottlePolicy(5, 900, 1800)),
            email=email,
            password=PASSWORD,
            client=service.Client(),
            adopt=adopt_checkouts,
        )
        await resolve_registered_session(rt, signed.session_token, signed.access_token)  # warm
        t0 = time.perf_counter()
        for _ in range(requests):
            await resolve_registered_session(rt, signed.session_token, signed.access_token)
        elapsed = time.perf_counter() - t0
    finally:
        await rt.close()
    return {
        "session": "registered",
        "cache": "redis" if redis_url else "none",
        "requests": requests,
        "per_second": round(requests / elapsed),
        "us_per_request": round(elapsed / requests * 1e6),
    }


async def measure(url: str, requests: int) -> dict[str, Any]:
    """Run every measurement against the migrated database ``url``."""
    redis_url = os.environ.get("TILLPOINT_BENCH_REDIS_URL", "")
    if redis_url:
        probe = Redis.from_url(redis_url, socket_connect_timeout=1)
        try:
            await probe.ping()
        finally:
            await probe.aclose()
    results = [await _guest_baseline(url, requests), await _resolve(url, None, requests)]
    if redis_url:
        results.append(await _resolve(url, redis_url, requests))
    return {
        "benchmark": "auth_sessions",
        "database": url.split(":", 1)[0],
        "argon2": await _argon2(5),
        "session_resolution": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get(
            "TILLPOINT_BENCH_DATABASE_URL", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        )
        upgrade(url)  # runs its own event loop, so before ours
        print(json.dumps(asyncio.run(measure(url, args.requests)), indent=2))


if __name__ == "__main__":
    main()
