"""The WebSocket stock channel for real: `tillpoint serve` processes on loopback ports, the
`websockets` client, changes pushed through the signed webhook (in-process, and across two
instances through real Redis), and each refusal with its close code."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.api.test_inventory_stream import SECRET, _free_port, push
from tests.inventory_support import stocked
from tillpoint.runtime import Runtime


@dataclass
class Served:
    base: str
    proc: subprocess.Popen[bytes]

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/api/inventory/ws"


@pytest.fixture
def serve(database_url: str, rt: Runtime) -> Iterator[Any]:
    """Start `tillpoint serve` processes on the test database (as the SSE tests do, and
    keeping the process: one test stops it); stopped at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env_extra: str) -> Served:
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
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        for _ in range(400):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return Served(base, proc)
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("server did not start")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=10)


@pytest.fixture
async def sockets() -> AsyncIterator[Any]:
    """Open client sockets, closed at the end."""
    opened: list[ClientConnection] = []

    async def open_socket(served: Served, **kwargs: Any) -> ClientConnection:
        ws = await connect(served.ws, open_timeout=30, **kwargs)
        opened.append(ws)
        return ws

    yield open_socket
    for ws in opened:
        await ws.close()


async def receive(ws: ClientConnection, within: float = 15) -> dict[str, Any]:
    """The next message other than a heartbeat."""
    async with asyncio.timeout(within):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] != "ping":
                return dict(message)


async def subscribe(ws: ClientConnection, product_ids: list[str], **extra: Any) -> dict[str, Any]:
    message = {"type": "subscribe", "channel": "inventory-updates", "product_ids": product_ids}
    await ws.send(json.dumps({**message, **extra}))
    return await receive(ws)


async def closed_with(ws: ClientConnection, within: float = 15) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""
    async with asyncio.timeout(within):
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason


async def test_updates_are_throttled_with_the_sse_payload(
    rt: Runtime, serve: Any, sockets: Any
) -> None:
    p = await stocked(rt, 1)
    served = serve()
    ws = await sockets(served)
    assert await subscribe(ws, [p.id]) == {
        "type": "subscribed",
        "channel": "inventory-updates",
        "product_ids": [p.id],
    }
    stock: list[tuple[float, dict[str, Any]]] = []
    pings = 0

    async def read() -> None:  # arrival times taken as messages come, during the burst too
        nonlocal pings
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                pings += 1
            else:
                stock.append((time.monotonic(), message))

    reader = asyncio.create_task(read())
    began = time.monotonic()
    for n, on_hand in enumerate([10, 11, 12, 13]):
        await asyncio.to_thread(push, served.base, {p.sku: on_hand}, f"ws-thr-{n}")
    burst = time.monotonic() - began
    deadline = time.monotonic() + 15
    while not stock or stock[-1][1]["data"]["skus"][0]["available"] != 13:
        assert time.monotonic() < deadline and not reader.done(), stock
        await asyncio.sleep(0.02)
    count = len(stock)
    await asyncio.sleep(1.2)  # nothing more may come but heartbeats: the latest was sent
    reader.cancel()
    assert len(stock) == count, stock
    assert all(m["type"] == "stock" and m["channel"] == "inventory-updates" for _, m in stock)
    # The same data as the SSE stream's `stock` event, and its id (a resume point).
    assert stock[-1][1]["data"] == {
        "product_id": p.id,
        "skus": [{"sku": p.sku, "variant_id": None, "available": 13, "in_stock": True}],
    }
    assert all(m["id"].isdigit() for _, m in stock)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(stock)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    assert len(stock) <= int(burst / 0.9) + 2, (len(stock), burst)
    if burst < 0.8:  # the whole burst fell in one interval: the first, then the latest
        assert len(stock) == 2
    assert pings >= 1


async def test_bad_subscriptions_are_answered_and_the_socket_stays(
    rt: Runtime, serve: Any, sockets: Any
) -> None:
    p = await stocked(rt, 1)
    served = serve()
    ws = await sockets(served)
    unknown = "prod_" + "x" * 22
    refused = await subscribe(ws, [p.id, unknown])
    assert refused["type"] == "error" and refused["code"] == "invalid_product_ids"
    assert refused["fields"] == [{"path": ["product_ids"], "code": "invalid", "message": unknown}]
    assert (await subscribe(ws, []))["code"] == "invalid_product_ids"
    wrong_channel = await subscribe(ws, [p.id], channel="orders")
    assert wrong_channel["code"] == "invalid_message"
    assert [f["path"] for f in wrong_channel["fields"]] == [["subscribe", "channel"]]
    await ws.send("{not json")
    assert (await receive(ws))["code"] == "malformed_json"
    await ws.send(json.dumps({"type": "shout"}))
    assert (await receive(ws))["code"] == "invalid_message"
    await ws.send(json.dumps({"type": "ping"}))
    assert await receive(ws) == {"type": "pong"}
    # The API's input gate: a card number is refused and never echoed.
    card = await subscribe(ws, [p.id, "4242424242424242"])
    assert card["code"] == "card_data_not_accepted" and "4242" not in json.dumps(card)
    assert card["fields"][0]["path"] == ["product_ids", 1]
    bad_resume = await subscribe(ws, [p.id], last_event_id="12ab")
    assert [f["path"] for f in bad_resume["fields"]] == [["subscribe", "last_event_id"]]
    # Still open: a good subscription now works.
    assert (await subscribe(ws, [p.id]))["type"] == "subscribed"
    await asyncio.to_thread(push, served.base, {p.sku: 7}, "ws-bad-1")
    update = await receive(ws)
    assert update["type"] == "stock" and update["data"]["skus"][0]["available"] == 7


async def test_resubscribing_replaces_the_products_and_resumes(
    rt: Runtime, serve: Any, sockets: Any
) -> None:
    first = await stocked(rt, 1)
    second = await stocked(rt, 1)
    served = serve()
    ws = await sockets(served)
    await subscribe(ws, [first.id])
    await asyncio.to_thread(push, served.base, {first.sku: 5}, "ws-re-1")
    seen = await receive(ws)
    assert seen["data"]["product_id"] == first.id
    await subscribe(ws, [second.id])
    await asyncio.to_thread(push, served.base, {first.sku: 6, second.sku: 8}, "ws-re-2")
    (only,) = [await receive(ws)]
    assert only["data"]["product_id"] == second.id
    assert only["data"]["skus"][0]["available"] == 8
    # Another client that was away since `seen` gets what changed since, then live.
    # A resume id is our own timestamp, digits that may pass a card check: not refused.
    luhn_valid = await subscribe(
        await sockets(served), [first.id], last_event_id="4111111111111111"
    )
    assert luhn_valid["type"] == "subscribed"
    other = await sockets(served)
    assert (await subscribe(other, [first.id], last_event_id=seen["id"]))["type"] == "subscribed"
    resumed = await receive(other)
    assert resumed["data"]["product_id"] == first.id
    assert resumed["data"]["skus"][0]["available"] == 6
    assert int(resumed["id"]) > int(seen["id"])


async def test_frames_over_the_limits_close_the_socket(
    rt: Runtime, serve: Any, sockets: Any
) -> None:
    served = serve(
        TILLPOINT_INVENTORY_WS_MESSAGES_PER_MINUTE="3",
        TILLPOINT_INVENTORY_WS_SUBSCRIBE_TIMEOUT_SECONDS="0.5",
    )
    big = await sockets(served)
    await big.send(json.dumps({"type": "ping", "pad": "x" * 5000}))
    # 1009 "message too big" (refused by the server before it is read whole).
    assert (await closed_with(big))[0] == 1009
    binary = await sockets(served)
    await binary.send(b"\x00\x01")
    assert await closed_with(binary) == (1003, "text_frames_only")
    chatty = await sockets(served)
    for _ in range(3):
        await chatty.send(json.dumps({"type": "ping"}))
        assert await receive(chatty) == {"type": "pong"}
    await chatty.send(json.dumps({"type": "ping"}))
    assert await closed_with(chatty) == (1008, "too_many_messages")
    idle = await sockets(served)
    assert await closed_with(idle) == (1008, "subscribe_timeout")


async def test_origins_and_hosts(rt: Runtime, serve: Any, sockets: Any) -> None:
    p = await stocked(rt, 1)
    served = serve(TILLPOINT_ALLOWED_ORIGINS="https://shop.example")
    foreign = await sockets(served, origin="https://evil.example")
    assert await closed_with(foreign) == (1008, "origin_not_allowed")
    for origin in (served.base, "https://shop.example"):
        ws = await sockets(served, origin=origin)
        assert (await subscribe(ws, [p.id]))["type"] == "subscribed", origin
    # A page rebound to our address names its own host: refused at the handshake.
    port = int(served.base.rsplit(":", 1)[1])
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://rebound.example:{port}/api/inventory/ws", host="127.0.0.1", port=port)
    assert refused.value.response.status_code == 403


async def test_connections_are_capped_per_address_and_in_all(
    rt: Runtime, serve: Any, sockets: Any
) -> None:
    p = await stocked(rt, 1)
    served = serve(
        TILLPOINT_TRUSTED_PROXIES="127.0.0.1",
        TILLPOINT_INVENTORY_WS_MAX_CONNECTIONS="3",
        TILLPOINT_INVENTORY_WS_MAX_CONNECTIONS_PER_ADDRESS="2",
    )

    async def from_address(address: str) -> ClientConnection:
        ws = await sockets(served, additional_headers={"X-Forwarded-For": address})
        return ws

    a1, a2 = await from_address("203.0.113.1"), await from_address("203.0.113.1")
    for ws in (a1, a2):
        assert (await subscribe(ws, [p.id]))["type"] == "subscribed"
    third = await from_address("203.0.113.1")
    assert await closed_with(third) == (1013, "too_many_connections")
    b1 = await from_address("203.0.113.2")
    assert (await subscribe(b1, [p.id]))["type"] == "subscribed"
    over_all = await from_address("203.0.113.3")
    assert await closed_with(over_all) == (1013, "too_many_connections")
    # A closed socket gives its place back.
    await a1.close()
    async with asyncio.timeout(15):
        while True:  # the server lets go of the place just after the close handshake
            again = await from_address("203.0.113.3")
            try:
                assert (await subscribe(again, [p.id]))["type"] == "subscribed"
                break
            except ConnectionClosed:
                assert again.close_code == 1013
                await asyncio.sleep(0.05)


async def test_two_instances_share_updates_through_redis(
    rt: Runtime, serve: Any, sockets: Any, redis_url: str
) -> None:
    p = await stocked(rt, 1)
    a = serve(TILLPOINT_REDIS_URL=redis_url)
    b = serve(TILLPOINT_REDIS_URL=redis_url)
    ws = await sockets(a)
    await subscribe(ws, [p.id])
    await asyncio.to_thread(push, b.base, {p.sku: 42}, "ws-two-1")
    update = await receive(ws)
    assert update["type"] == "stock" and update["data"]["skus"][0]["available"] == 42


async def test_shutdown_closes_sockets_cleanly(rt: Runtime, serve: Any, sockets: Any) -> None:
    p = await stocked(rt, 1)
    served = serve()
    ws = await sockets(served)
    await subscribe(ws, [p.id])
    served.proc.send_signal(signal.SIGINT)
    code, _ = await closed_with(ws)
    assert code == 1012  # service restart: a client reconnects
    _, stderr = await asyncio.to_thread(served.proc.communicate, timeout=20)
    assert served.proc.returncode == 0
    assert b"Traceback" not in stderr, stderr.decode()


async def test_switched_off(rt: Runtime, serve: Any, sockets: Any) -> None:
    served = serve(TILLPOINT_INVENTORY_WS_ENABLED="false")
    with pytest.raises(InvalidStatus) as refused:
        await sockets(served)
    assert refused.value.response.status_code == 403


async def test_one_change_reads_the_same_on_both_transports(
    rt: Runtime, serve: Any, sockets: Any
) -> None:
    p = await stocked(rt, 1)
    served = serve()
    ws = await sockets(served)
    await subscribe(ws, [p.id])
    async with (
        httpx.AsyncClient(base_url=served.base, timeout=httpx.Timeout(5, read=30)) as client,
        client.stream("GET", "/api/inventory/stream", params={"product_ids": p.id}) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        await asyncio.sleep(0.3)  # the stream subscribes right after its headers go out
        await asyncio.to_thread(push, served.base, {p.sku: 9}, "ws-both-1")
        event: dict[str, str] = {}
        async with asyncio.timeout(15):
            while "data" not in event:
                name, _, value = (await anext(lines)).partition(":")
                if name in ("id", "data"):
                    event[name] = value.strip()
    update = await receive(ws)
    assert update["data"] == json.loads(event["data"])
    assert update["id"] == event["id"]
