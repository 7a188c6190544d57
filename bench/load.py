"""``tillpoint bench`` (``python -m bench.load``): concurrent shoppers against a running server.

Starts nothing: point it at a server (``--url``) already serving a migrated,
seeded database. Each of ``--shoppers`` concurrent tasks repeats a flow (a fresh
guest per visit) until ``--duration`` has passed; ``--rate`` caps the flows
started per second (to measure latency at a chosen fraction of capacity).
Prints one JSON document: flows/s, requests/s, latency percentiles per endpoint
template, statuses and errors, CPU-seconds per flow, server RSS, the database
verification and, with ``--ceiling``, pgbench's TPC-B figure on the same PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench import procstat
from bench.ceiling import run_pgbench, server_settings
from bench.flows import FLOWS, Flow, Outcome
from bench.recorder import Recorder
from bench.shopper import FlowError, Shopper, open_transport


class Pacer:
    """Hands out flow start times at ``rate`` per second across all shoppers (None: no cap)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.start = time.perf_counter()
        self.issued = 0

    async def wait_turn(self, deadline: float) -> None:
        """Sleep until this shopper's next start time, or the deadline if that comes first:
        a shopper asleep past the deadline would stretch the run's measured time (with 32
        shoppers at 9.2 flows/s, by 3.5 s: 8.2 flows/s reported instead of 9.2)."""
        if not self.rate:
            return
        slot = self.start + self.issued / self.rate
        self.issued += 1
        delay = min(slot, deadline) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def wait_until_up(client: httpx.AsyncClient, seconds: float) -> None:
    """Poll ``/healthz`` until the server answers (a server still starting is not an error)."""
    deadline = time.perf_counter() + seconds
    while True:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.perf_counter() > deadline:
            raise SystemExit(f"no server answering on {client.base_url} after {seconds:.0f} s")
        await asyncio.sleep(0.2)


async def _shop(
    index: int,
    args: argparse.Namespace,
    flow: Flow,
    recorder: Recorder,
    pacer: Pacer,
    deadline: float,
    outcomes: list[Outcome],
) -> None:
    rng = random.Random(args.seed * 100_003 + index)
    while time.perf_counter() < deadline:
        if args.max_flows and recorder.flows_completed + recorder.flows_failed >= args.max_flows:
            return
        await pacer.wait_turn(deadline)
        if time.perf_counter() >= deadline:
            return
        # Each visit on a connection of its own, as a browser's: the server's workers share
        # one listening socket, and a connection kept for the whole run stays with the
        # worker that accepted it (32 at the start split 22/10, once 32/0).
        async with open_transport(args.client, args.url, args.timeout) as transport:
            try:
                outcomes.append(await flow.run(Shopper(transport, recorder), rng))
            except FlowError as exc:
                recorder.flow_done(False, f"{exc.template} -> {exc.status} {exc.code or ''}")
            except AssertionError as exc:
                recorder.flow_done(False, f"wrong answer: {exc}")
            else:
                recorder.flow_done(True)


Tick = Callable[[Recorder, float], None]


async def run_load(
    args: argparse.Namespace, console: Console, tick: Tick | None = None
) -> dict[str, Any]:
    """Run the configured load and return the JSON-ready report.

    ``tick(recorder, measured_seconds)`` is called twice a second once the warm-up
    is over (the soak uses it to cut the run into windows).
    """
    flow: Flow = FLOWS[args.flow]()
    async with httpx.AsyncClient(base_url=args.url, timeout=args.timeout) as client:
        await wait_until_up(client, args.wait)
        await flow.prepare(client, args.database_url)
    recorder = Recorder()
    outcomes: list[Outcome] = []
    rss = procstat.RssWatch(args.server_pid) if args.server_pid else None
    pacer = Pacer(args.rate)
    begin = time.perf_counter()
    deadline = begin + args.warmup + args.duration
    tasks = [
        asyncio.create_task(_shop(i, args, flow, recorder, pacer, deadline, outcomes))
        for i in range(args.shoppers)
    ]
    cpu_before: procstat.CpuSample | None = None
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[flows]} flows, {task.fields[rps]} req/s, {task.fields[errs]} err"),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
        transient=True,
    )
    with progress:
        bar = progress.add_task(
            "warm-up" if args.warmup else args.flow,
            total=args.warmup + args.duration,
            flows=0,
            rps=0,
            errs=0,
        )
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.5)
            now = time.perf_counter()
            if cpu_before is None and now - begin >= args.warmup:
                recorder.reset()
                cpu_before = procstat.sample_cpu(args.server_pid)
                if rss is not None:
                    rss.warmed()
                progress.update(bar, description=args.flow)
            if rss is not None:
                rss.sample()
            if tick is not None and cpu_before is not None:
                tick(recorder, now - begin - args.warmup)
            progress.update(
                bar,
                completed=min(now - begin, args.warmup + args.duration),
                flows=recorder.flows_completed,
                rps=round(recorder.requests / recorder.elapsed),
                errs=sum(recorder.errors.values()),
            )
    recorder.stop()
    for t in tasks:
        t.result()  # surface a bug in the generator itself
    cpu_after = procstat.sample_cpu(args.server_pid)
    report: dict[str, Any] = {
        "flow": args.flow,
        "url": args.url,
        "client": args.client,
        "shoppers": args.shoppers,
        "rate_cap_per_s": args.rate,
        "warmup_s": args.warmup,
        **recorder.summary(),
    }
    if cpu_before is not None:
        cpu = procstat.cpu_delta(cpu_before, cpu_after)
        done = max(recorder.flows_completed, 1)
        cpu["total_per_flow_s"] = round(cpu["total_s"] / done, 4)
        cpu["machine_busy_per_flow_s"] = round(cpu["machine_busy_s"] / done, 4)
        report["cpu"] = cpu
    if rss is not None:
        report["server_rss"] = rss.summary()
    if args.database_url and not args.no_verify:
        report["verification"] = await flow.verify(args.database_url, outcomes)
    if args.database_url and args.database_url.startswith("postgresql"):
        report["postgres"] = await server_settings(args.database_url)
    if args.ceiling:
        if not args.database_url:
            raise SystemExit("--ceiling needs --database-url (or TILLPOINT_DATABASE_URL)")
        if not args.quiet:
            console.print(f"running pgbench for {args.duration:.0f} s …")
        pg = await run_pgbench(
            args.database_url,
            clients=args.shoppers,
            duration=args.duration,
            scale=args.pgbench_scale,
        )
        pg["flows_per_s_over_tps"] = round(report["flows_per_s"] / pg["tps"], 4)
        report["ceiling"] = pg
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tillpoint bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
    p.add_argument("--flow", choices=sorted(FLOWS), default=default_flow())
    p.add_argument("--shoppers", type=int, default=50, help="concurrent simulated shoppers")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds run but not measured")
    p.add_argument("--rate", type=float, default=None, help="cap on flows started per second")
    p.add_argument(
        "--max-flows", type=int, default=0, help="stop after this many flows (0: no cap)"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    p.add_argument(
        "--client", choices=["aiohttp", "httpx"], default="aiohttp", help="HTTP client library"
    )
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the server")
    p.add_argument(
        "--database-url",
        default=os.environ.get("TILLPOINT_DATABASE_URL"),
        help="the server's database, for the verification and --ceiling",
    )
    p.add_argument("--no-verify", action="store_true", help="skip the database verification")
    p.add_argument("--ceiling", action="store_true", help="also run pgbench and print the ratio")
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--server-pid", type=int, default=None, help="uvicorn's pid: CPU and RSS")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--output", default=None, help="also write the JSON report to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def default_flow() -> str:
    return "checkout" if "checkout" in FLOWS else "cart"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=True)
    report = asyncio.run(run_load(args, console))
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    verified = report.get("verification", {}).get("ok", True)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
