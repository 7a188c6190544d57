"""The SSE stock stream for real: `tillpoint serve` processes on loopback ports, an httpx
streaming client, changes pushed through the signed webhook (in-process fan-out, and
across two instances through real Redis)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.inventory_support import stocked
from tillpoint.inventory.webhook import sign
from tillpoint.runtime import Runtime

SECRET = "whsec_stream_test_secret_0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(database_url: str, rt: Runtime) -> Iterator[Any]:
    """Start `tillpoint serve` processes on the test database; stopped at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env_extra: str) -> str:
        port = _free_port()
        inherited = {k: v for k, v in os.environ.items() if k != "TILLPOINT_REDIS_URL"}
        env = {
            **inherited,
            "TILLPOINT_DATABASE_URL": database_url,
            "TILLPOINT_SECRET_KEY": rt.settings.secret_key or "",
            "TILLPOINT_INVENTORY_WEBHOOK_SECRET": SECRET,
            "TILLPOINT_INVENTORY_STREAM_HEARTBEAT_SECONDS": "0.5",
            "TILLPOINT_BACKGROUND_TASKS": "false",
            "TILLPOINT_LOG_LEVEL": "WARNING",
            **env_extra,
        }
        cmd = [sys.executable, "-m", "tillpoint", "serve", "--port", str(port)]
        procs.append(subprocess.Popen(cmd, env=env))
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("server did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Stream:
    """Reads one SSE response in the background: events with arrival times, heartbeats."""

    events: list[dict[str, Any]] = field(default_factory=list)
    pings: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self, response: httpx.Response) -> None:
        current: dict[str, Any] = {}
        self.opened.set()
        async for line in response.aiter_lines():
            if line.startswith(":"):
                self.pings += 1
            elif not line:
                if current:
                    current["t"] = time.monotonic()
                    current["data"] = json.loads(current["data"])
                    self.events.append(current)
                    current = {}
            else:
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")

    async def wait_for(self, n: int, within: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while len(self.events) < n:
            assert time.monotonic() < deadline, f"only {len(self.events)} events: {self.events}"
            await asyncio.sleep(0.02)
        return self.events


@pytest.fixture
async def listen() -> AsyncIterator[Any]:
    tasks: list[asyncio.Task[None]] = []
    clients: list[httpx.AsyncClient] = []

    async def open_stream(
        base: str, product_ids: list[str], last_event_id: str | None = None
    ) -> Stream:
        client = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(5, read=30))
        clients.append(client)
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        stream = Stream()
        ready = asyncio.Event()

        async def run() -> None:
            async with client.stream(
                "GET",
                "/api/inventory/stream",
                params={"product_ids": ",".join(product_ids)},
                headers=headers,
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                ready.set()
                await stream.read(response)

        task = asyncio.create_task(run())
        tasks.append(task)
        # Headers within 30 s (a loaded machine is slow to start a stream); a stream that
        # failed first says why instead of timing out.
        opened = asyncio.ensure_future(ready.wait())
        done, _ = await asyncio.wait({opened, task}, timeout=30, return_when="FIRST_COMPLETED")
        if task in done:
            task.result()
        assert opened in done, "the stream sent no headers within 30 s"
        await asyncio.sleep(0.3)  # the server subscribes right after the headers go out
        return stream

    yield open_stream
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()


def push(base: str, levels: dict[str, int], delivery: str) -> None:
    raw = json.dumps({"updates": [{"sku": k, "on_hand": v} for k, v in levels.items()]}).encode()
    stamp = int(time.time())
    r = httpx.post(
        f"{base}/api/inventory/webhook",
        content=raw,
        headers={
            "content-type": "application/json",
            "x-inventory-timestamp": str(stamp),
            "x-inventory-signature": sign(SECRET, stamp, raw),
            "x-inventory-delivery": delivery,
        },
    )
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text


async def test_stream_sends_throttled_updates_and_heartbeats(
    rt: Runtime, serve: Any, listen: Any
) -> None:
    p = await stocked(rt, 1)
    base = serve()
    stream = await listen(base, [p.id])
    began = time.monotonic()
    for n, on_hand in enumerate([10, 11, 12, 13]):
        await asyncio.to_thread(push, base, {p.sku: on_hand}, f"thr-{n}")
    burst = time.monotonic() - began
    deadline = time.monotonic() + 10
    while not stream.events or stream.events[-1]["data"]["skus"][0]["available"] != 13:
        assert time.monotonic() < deadline, stream.events
        await asyncio.sleep(0.02)
    await asyncio.sleep(1.2)  # nothing more may come: the latest level was sent
    events = stream.events
    assert all(e["event"] == "stock" and e["data"]["product_id"] == p.id for e in events)
    assert events[-1]["data"]["skus"] == [
        {"sku": p.sku, "variant_id": None, "available": 13, "in_stock": True}
    ]
    # Never more than one event per product per second, however fast the changes came.
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(events)]
    assert gaps and all(gap >= 0.9 for gap in gaps), gaps
    # Changes are coalesced: one event per elapsed interval of the burst, plus the last.
    assert len(events) <= int(burst / 0.9) + 2, (len(events), burst)
    if burst < 0.8:  # the whole burst fell in one interval: the first, then the latest
        assert len(events) == 2
    assert stream.pings >= 2


async def test_stream_resumes_from_last_event_id(rt: Runtime, serve: Any, listen: Any) -> None:
    quiet = await stocked(rt, 1)
    busy = await stocked(rt, 1)
    base = serve()
    stream = await listen(base, [quiet.id, busy.id])
    await asyncio.to_thread(push, base, {busy.sku: 5}, "res-1")
    (seen,) = await stream.wait_for(1)
    await asyncio.sleep(0.05)
    # While this client is away, the stock changes again.
    await asyncio.to_thread(push, base, {busy.sku: 6}, "res-2")
    resumed = await listen(base, [quiet.id, busy.id], last_event_id=seen["id"])
    events = await resumed.wait_for(1)
    assert [e["data"]["product_id"] for e in events] == [busy.id]
    assert events[0]["data"]["skus"][0]["available"] == 6
    assert int(events[0]["id"]) > int(seen["id"])


async def test_two_instances_share_stock_updates_through_redis(
    rt: Runtime, serve: Any, listen: Any, redis_url: str
) -> None:
    p = await stocked(rt, 1)
    a = serve(TILLPOINT_REDIS_URL=redis_url)
    b = serve(TILLPOINT_REDIS_URL=redis_url)
    stream = await listen(a, [p.id])
    await asyncio.to_thread(push, b, {p.sku: 42}, "two-1")
    (event,) = await stream.wait_for(1)
    assert event["data"]["skus"][0]["available"] == 42


async def test_without_redis_instances_do_not_share(rt: Runtime, serve: Any, listen: Any) -> None:
    p = await stocked(rt, 1)
    a = serve()
    b = serve()
    stream = await listen(a, [p.id])
    await asyncio.to_thread(push, b, {p.sku: 42}, "solo-1")
    await asyncio.sleep(1.0)
    assert stream.events == []
    await asyncio.to_thread(push, a, {p.sku: 43}, "solo-2")
    (event,) = await stream.wait_for(1)
    assert event["data"]["skus"][0]["available"] == 43
