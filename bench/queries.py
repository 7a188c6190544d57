"""``tillpoint bench queries``: SQL statements and round trips per request of one purchase.

Runs the app in process (no server, no load) on ``--database-url`` (prepared by
``tillpoint bench prepare``), walks one shopper through ``--flow`` ``--visits``
times, and counts the statements each request sent to the database and the
process CPU time it took (app and in-process client; the database's own CPU is
not included). The sandbox gateway's webhook deliveries are drained after each request
and counted apart (``webhooks after <request>``). The count does not depend on
how busy the machine is, so it is the first thing to look at when a hot path is
slow (N+1 queries, needless round trips). Prints JSON; ``--sql`` adds the statements.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import event

from bench.flows import FLOWS
from bench.recorder import Recorder
from bench.shopper import Answer, FlowError, HttpxTransport, Shopper
from tillpoint.bootstrap import build_runtime
from tillpoint.config import Settings, load_settings
from tillpoint.web.app import create_app


def in_process_settings(database_url: str, redis_url: str | None) -> Settings:
    """The app's settings for one in-process caller that makes every request: rate and
    payment-velocity limits raised (the limiter still runs), no background tasks."""
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        background_tasks=False,
        log_level="WARNING",
        rate_limit_global="100000000/minute",
        rate_limit_checkout="100000000/minute",
        rate_limit_create_intent="100000000/minute",
        rate_limit_per_address="100000000/minute",
        # Every visit pays with the same test card from one client.
        payment_max_attempts_per_card=100000000,
        payment_max_attempts_per_email=100000000,
        payment_max_attempts_per_session=100000000,
    )


async def count(args: argparse.Namespace) -> dict[str, Any]:
    settings = in_process_settings(args.database_url, args.redis_url)
    rt = build_runtime(settings)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split())[:160])

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    began: list[int] = []

    def begun(conn: Any) -> None:
        # A transaction costs two round trips (BEGIN, COMMIT) and a session's set-up;
        # autocommit reads (Database.reads / single_statement on PostgreSQL) send neither.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            began.append(1)

    event.listen(rt.db.engine.sync_engine, "begin", begun)
    per_request: dict[str, list[int]] = {}
    per_request_tx: dict[str, list[int]] = {}
    cpu_ms: dict[str, list[float]] = {}
    sql: dict[str, list[str]] = {}
    app = create_app(runtime=rt)
    transport = httpx.ASGITransport(app=app)

    class Counting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            before, before_tx = len(statements), len(began)
            cpu = time.process_time()
            response = await transport.handle_async_request(request)
            template = current["template"]
            tally(template, before, before_tx, cpu)
            # The sandbox's webhook deliveries run in the app's loop; counted apart, so
            # neither this request nor the next one is charged for them.
            drain = getattr(app.state.gateway, "drain", None)
            if drain is not None:
                before, before_tx, cpu = len(statements), len(began), time.process_time()
                await drain()
                if len(statements) > before:
                    tally(f"webhooks after {template}", before, before_tx, cpu)
            return response

    def tally(template: str, before: int, before_tx: int, cpu: float) -> None:
        cpu_ms.setdefault(template, []).append((time.process_time() - cpu) * 1000)
        per_request.setdefault(template, []).append(len(statements) - before)
        per_request_tx.setdefault(template, []).append(len(began) - before_tx)
        sql.setdefault(template, statements[before:])

    current = {"template": "?"}
    recorder = Recorder()
    wrong: list[str] = []

    try:
        async with httpx.AsyncClient(transport=Counting(), base_url="http://localhost") as client:
            flow = FLOWS[args.flow]()
            await flow.prepare(client, None)
            shopper = Shopper(HttpxTransport(client), recorder)
            call = shopper.call

            async def labelled(method: str, url: str, template: str, **kw: Any) -> Answer:
                current["template"] = template
                return await call(method, url, template, **kw)

            shopper.call = labelled  # type: ignore[method-assign]
            rng = random.Random(args.seed)
            for _ in range(args.visits):
                try:
                    await flow.run(shopper, rng)
                except (AssertionError, FlowError) as exc:  # counted all the same; reported
                    wrong.append(str(exc))
    finally:
        await rt.close()
    counts = {t: Counter(v).most_common(1)[0][0] for t, v in per_request.items()}
    tx_counts = {t: Counter(v).most_common(1)[0][0] for t, v in per_request_tx.items()}
    report: dict[str, Any] = {
        "flow": args.flow,
        "visits": args.visits,
        "redis": bool(args.redis_url),
        "statements_per_request": dict(sorted(counts.items())),
        "cpu_ms_median_per_request": {
            t: round(statistics.median(v), 2) for t, v in sorted(cpu_ms.items())
        },
        "cpu_ms_per_flow": round(sum(sum(v) for v in cpu_ms.values()) / args.visits, 1),
        "statements_per_flow": sum(
            counts[t] * len(v) // args.visits for t, v in per_request.items()
        ),
        "transactions_per_request": dict(sorted(tx_counts.items())),
        "transactions_per_flow": sum(
            tx_counts[t] * len(v) // args.visits for t, v in per_request_tx.items()
        ),
        "errors": dict(recorder.errors),
        "wrong_answers": wrong,
    }
    if args.sql:
        report["sql"] = sql
    return report


def in_process_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options every in-process benchmark takes: the database (required) and Redis."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--database-url", default=os.environ.get("TILLPOINT_DATABASE_URL"))
    p.add_argument("--redis-url", default=os.environ.get("TILLPOINT_REDIS_URL"))
    return p


def parse_in_process(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = p.parse_args(argv)
    if not args.database_url:
        p.error("--database-url (or TILLPOINT_DATABASE_URL) is required")
    return args


def main(argv: list[str] | None = None) -> int:
    p = in_process_parser("tillpoint bench queries", __doc__)
    p.add_argument("--flow", choices=sorted(FLOWS), default="checkout_review")
    p.add_argument("--visits", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sql", action="store_true", help="list each request's statements")
    args = parse_in_process(p, argv)
    print(json.dumps(asyncio.run(count(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
