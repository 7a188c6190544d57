"""Audit appends under concurrency on PostgreSQL: one chain against K chains.

``python -m bench.audit_append [--tasks 32] [--processes 2] [--duration 10] [--configs k1,k16]``

Creates its own database (``tillpoint_bench_audit``, dropped at the end), migrates it,
and for each configuration runs ``--tasks`` asyncio tasks spread over ``--processes``
processes (like ``tillpoint serve --workers 2``) for ``--duration`` seconds, each task
doing short transactions with one audit append (``record``, as a checkout step does) on
a pool of one connection per task. While they run it samples ``pg_stat_activity`` for
backends waiting on a lock. Prints JSON: appends/s, p50/p99 transaction time, client CPU
per append, mean and peak lock waiters, and whether every chain verifies afterwards.

Configurations: ``k<K>`` (the shipped append), ``k<K>-skip`` (a busy preferred head falls
back to a free one with ``FOR UPDATE SKIP LOCKED``; not shipped) and ``k1-orm`` (the
append written with ORM objects, as before the Core rewrite) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, cast

import asyncpg
from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit import chain as audit_chain
from tillpoint.audit.models import AuditChainHead, AuditLog
from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.audit.verify import verify_chain
from tillpoint.bootstrap import build_runtime
from tillpoint.config import load_settings
from tillpoint.ids import new_id
from tillpoint.migrate import upgrade_async
from tillpoint.runtime import Runtime

DB_NAME = "tillpoint_bench_audit"
ACTOR = Actor(session_id="s" * 64, ip_address="127.0.0.1", user_agent="bench")
Append = Callable[[AsyncSession, AuditEvent, Actor, Any], Awaitable[Any]]


async def orm_record(s: AsyncSession, event: AuditEvent, actor: Actor, at: Any) -> AuditLog:
    """The append as it was written before (ORM head and row, flushed at commit), on
    chain 0: what the Core statements are measured against."""
    head = await s.get(AuditChainHead, 0, with_for_update=True)
    if head is None:  # only in the warm-up: create the head row, then load it
        await audit_chain.lock_head(s, 0)
        head = await s.get(AuditChainHead, 0, with_for_update=True, populate_existing=True)
        assert head is not None
    row = AuditLog(
        id=new_id("aud"),
        event_type=event.event_type,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        action=event.action,
        meta=dict(event.metadata),
        session_id=actor.session_id,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
        timestamp=at,
        chain=0,
        seq=head.seq + 1,
        prev_hash=head.hash,
    )
    row.hash = audit_chain.row_hash(head.hash, row)
    head.seq, head.hash = row.seq, row.hash
    s.add(row)
    return row


async def skip_locked_record(s: AsyncSession, event: AuditEvent, actor: Actor, at: Any) -> AuditLog:
    """The append with a fallback: when the preferred head is busy, the nearest free one
    (``FOR UPDATE SKIP LOCKED``). Measured against the plain wait and not kept; here it
    costs one more statement than it would inside ``chain.session_head``."""
    if audit_chain.SESSION_CHAIN_KEY not in s.info:
        k = audit_chain.chain_count(s)
        preferred = audit_chain.preferred_chain(event.entity_id, k)
        head = cast(Table, AuditChainHead.__table__)
        free = await s.scalar(
            select(head.c.chain)
            .where(head.c.chain < k)
            .order_by((head.c.chain - preferred + k) % k)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if free is not None:
            s.info[audit_chain.SESSION_CHAIN_KEY] = free
    return await record(s, event, actor, at)


def _runtime(url: str, chains: int, pool: int) -> Runtime:
    settings = load_settings(
        mode="test",
        database_url=url,
        database_pool_size=pool,
        audit_chains=chains,
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        background_tasks=False,
        log_level="WARNING",
    )
    return build_runtime(settings)


def _configure(config: str) -> tuple[int, Append]:
    """K and the append function of a configuration name."""
    variants: dict[str, Append] = {"orm": orm_record, "skip": skip_locked_record}
    k, _, variant = config.partition("-")
    return int(k.removeprefix("k")), variants.get(variant, record)


async def _shoppers(
    url: str, config: str, worker: int, tasks: int, start_at: float, duration: float
) -> tuple[list[float], float]:
    chains, append = _configure(config)
    rt = _runtime(url, chains, tasks)
    async with rt.db.engine.connect():  # open the pool's first connection before the start
        pass
    latencies: list[float] = []

    async def shopper(n: int) -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop_at = time.time() + duration
        i = 0
        while time.time() < stop_at:
            i += 1
            entity = f"cart_{worker}_{n}_{i}"
            event = AuditEvent("item_added", "cart", entity, "add", {"quantity": 1})
            started = time.perf_counter()
            async with rt.db.transaction() as s:
                await append(s, event, ACTOR, rt.clock.now())
            latencies.append(time.perf_counter() - started)

    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu = time.process_time()
    await asyncio.gather(*(shopper(n) for n in range(tasks)))
    cpu = time.process_time() - cpu
    await rt.close()
    return latencies, cpu


def _worker(args: tuple[str, str, int, int, float, float]) -> tuple[list[float], float]:
    return asyncio.run(_shoppers(*args))


async def _lock_waiters(dsn: str, stop: asyncio.Event) -> list[int]:
    """How many backends of the bench database wait on a lock, every 50 ms."""
    conn = await asyncpg.connect(dsn)
    samples = []
    try:
        while not stop.is_set():
            samples.append(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = $1 AND wait_event_type = 'Lock'",
                    DB_NAME,
                )
            )
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return samples


async def run_one(
    url: str, dsn: str, config: str, tasks: int, processes: int, duration: float
) -> dict[str, Any]:
    chains, append = _configure(config)
    rt = _runtime(url, chains, 4)
    async with rt.db.engine.begin() as conn:
        await conn.execute(text("TRUNCATE audit_logs, audit_chain_head"))
    for i in range(chains * 8):  # create the heads outside the timed window
        async with rt.db.transaction() as s:
            await append(s, AuditEvent("warm", "bench", f"warm_{i}", "warm"), ACTOR, rt.clock.now())
    start_at = time.time() + 3.0  # every process has started and connected by then
    shares = [tasks // processes + (1 if p < tasks % processes else 0) for p in range(processes)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(processes) as pool:
        waiting = asyncio.create_task(_lock_waiters(dsn, stop))
        runs = [
            loop.run_in_executor(pool, _worker, (url, config, p, share, start_at, duration))
            for p, share in enumerate(shares)
        ]
        done = await asyncio.gather(*runs)
        stop.set()
        waiters = await waiting
    # Only the samples from the timed window (the workers sleep until start_at).
    waiters = waiters[int(3.0 / 0.05) :] or [0]
    latencies = [x * 1000 for lat, _ in done for x in lat]
    cpu = sum(c for _, c in done)
    report = await verify_chain(rt)
    await rt.close()
    ms = sorted(latencies)
    return {
        "appends": len(ms),
        "appends_per_s": round(len(ms) / duration, 1),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "client_cpu_ms_per_append": round(cpu * 1000 / len(ms), 2),
        "lock_waiters_mean": round(statistics.fmean(waiters), 1),
        "lock_waiters_peak": max(waiters),
        "verified": report.ok,
        "chains_used": len(report.chains),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    admin_dsn = args.admin_url.replace("postgresql+asyncpg://", "postgresql://")
    url = f"{args.admin_url.rpartition('/')[0]}/{DB_NAME}"
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(admin_dsn, timeout=5)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    results: dict[str, Any] = {}
    try:
        await upgrade_async(url)
        for config in args.configs.split(","):
            runs = sum(1 for key in results if key.split("#")[0] == config)
            key = f"{config}#{runs + 1}" if runs else config  # a repeated configuration
            results[key] = await run_one(
                url, dsn, config, args.tasks, args.processes, args.duration
            )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.close()
    return {
        "tasks": args.tasks,
        "processes": args.processes,
        "duration_s": args.duration,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "TILLPOINT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL URL allowed to create and drop the bench database",
    )
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--configs", default="k1,k16", help="comma-separated: k<K>, k<K>-skip, k1-orm"
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(main_async(args)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
