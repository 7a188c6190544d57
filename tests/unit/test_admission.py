"""Admission control: FIFO order, the cap, the bounded queue, timeouts, cancellation, exemptions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tillpoint.config import load_settings
from tillpoint.web.admission import AdmissionLimiter, AdmissionMiddleware, Overloaded

# --- the limiter ----------------------------------------------------------------------------


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiters_are_admitted_in_arrival_order() -> None:
    limiter = AdmissionLimiter(capacity=1, max_queue=100, timeout=5)
    await limiter.acquire()
    admitted: list[int] = []

    async def wait(n: int) -> None:
        await limiter.acquire()
        admitted.append(n)

    tasks = []
    for n in range(8):
        tasks.append(asyncio.create_task(wait(n)))
        await _settle()  # each joins the queue before the next arrives
    assert limiter.waiting == 8
    for expected in range(8):
        limiter.release()
        await _settle()
        assert admitted == list(range(expected + 1))
    limiter.release()
    await asyncio.gather(*tasks)
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


async def test_a_newcomer_does_not_overtake_the_queue() -> None:
    limiter = AdmissionLimiter(capacity=1, max_queue=10, timeout=5)
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    await _settle()
    limiter.release()  # the slot goes to the waiter, not to whoever calls next
    late = asyncio.create_task(limiter.acquire())
    await _settle()
    assert first.done() and not late.done()
    limiter.release()
    await late
    limiter.release()
    assert limiter.in_flight == 0


async def test_the_cap_is_never_exceeded() -> None:
    limiter = AdmissionLimiter(capacity=3, max_queue=100, timeout=5)
    running = peak = 0

    async def work(n: int) -> None:
        nonlocal running, peak
        await limiter.acquire()
        try:
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001 * (n % 4))
        finally:
            running -= 1
            limiter.release()

    await asyncio.gather(*(work(n) for n in range(60)))
    assert peak == 3
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


async def test_a_wait_past_the_timeout_is_refused() -> None:
    limiter = AdmissionLimiter(capacity=1, max_queue=10, timeout=0.05)
    await limiter.acquire()
    with pytest.raises(Overloaded) as info:
        await limiter.acquire()
    assert info.value.reason == "timeout"
    assert (limiter.in_flight, limiter.waiting) == (1, 0)
    limiter.release()
    assert limiter.in_flight == 0


async def test_a_full_queue_refuses_at_once() -> None:
    limiter = AdmissionLimiter(capacity=1, max_queue=2, timeout=5)
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
    await _settle()
    with pytest.raises(Overloaded) as info:
        await asyncio.wait_for(limiter.acquire(), 0.5)  # no waiting: the refusal is immediate
    assert info.value.reason == "queue_full"
    for _ in range(3):
        limiter.release()
        await _settle()
    await asyncio.gather(*waiters)
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


async def test_a_cancelled_waiter_leaves_the_queue_and_takes_no_slot() -> None:
    limiter = AdmissionLimiter(capacity=1, max_queue=10, timeout=5)
    await limiter.acquire()
    gone = asyncio.create_task(limiter.acquire())
    stays = asyncio.create_task(limiter.acquire())
    await _settle()
    gone.cancel()
    await _settle()
    assert gone.cancelled()
    assert (limiter.in_flight, limiter.waiting) == (1, 1)
    limiter.release()  # goes to the remaining waiter, not to the cancelled one
    await stays
    limiter.release()
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


async def test_a_waiter_cancelled_just_as_its_slot_arrives_passes_it_on() -> None:
    limiter = AdmissionLimiter(capacity=1, max_queue=10, timeout=5)
    await limiter.acquire()
    unlucky = asyncio.create_task(limiter.acquire())
    next_in_line = asyncio.create_task(limiter.acquire())
    await _settle()
    limiter.release()  # the slot is handed to ``unlucky``...
    unlucky.cancel()  # ...which is cancelled before it resumes
    await _settle()
    assert unlucky.cancelled()
    await asyncio.wait_for(next_in_line, 1)  # the slot was passed on, not leaked
    assert limiter.in_flight == 1
    limiter.release()
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


# --- the middleware -------------------------------------------------------------------------


class Gate:
    """An ASGI app that holds each request until released; records what it saw."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.bodies: list[bytes] = []
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.paths.append(scope["path"])
        try:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.bodies.append(body)
            await self.open.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            self.running -= 1


def _middleware(gate: Gate, **settings: Any) -> AdmissionMiddleware:
    values: dict[str, Any] = {"max_inflight_requests": 1, "admission_queue_timeout_seconds": 5}
    values.update(settings)
    return AdmissionMiddleware(gate, load_settings(**values))


class Call:
    """One request through the middleware; ``disconnect()`` makes the client go away."""

    def __init__(
        self, app: AdmissionMiddleware, path: str, body: bytes = b"", accept: str = "*/*"
    ) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.chunks = [body[:3], body[3:]] if body else [b""]
        scope = {
            "type": "http",
            "method": "POST" if body else "GET",
            "path": path,
            "headers": [(b"accept", accept.encode())],
        }
        self.task = asyncio.create_task(app(scope, self.receive, self.send))

    async def receive(self) -> dict[str, Any]:
        if self.chunks:
            chunk = self.chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def disconnect(self) -> None:
        self.gone.set()

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None


async def test_a_request_that_waits_too_long_gets_503_server_busy_with_retry_after() -> None:
    gate = Gate()
    app = _middleware(gate, admission_queue_timeout_seconds=0.05)
    holder = Call(app, "/api/cart")
    await _settle()
    late = Call(app, "/api/cart")
    await asyncio.wait_for(late.task, 2)
    assert late.status == 503
    headers = dict(late.sent[0]["headers"])
    assert headers[b"retry-after"] == b"5"
    assert json.loads(late.sent[1]["body"])["error"]["code"] == "server_busy"
    assert gate.paths == ["/api/cart"]  # the refused request never reached the app
    gate.open.set()
    await holder.task
    assert holder.status == 200
    assert app.shop.in_flight == 0


async def test_a_full_queue_answers_503_at_once() -> None:
    gate = Gate()
    app = _middleware(gate, admission_max_queue=1)
    calls = [Call(app, "/api/cart") for _ in range(2)]
    await _settle()
    third = Call(app, "/api/cart")
    await asyncio.wait_for(third.task, 1)
    assert third.status == 503
    assert json.loads(third.sent[1]["body"])["error"]["code"] == "server_busy"
    gate.open.set()
    await asyncio.gather(*(c.task for c in calls))
    assert [c.status for c in calls] == [200, 200]
    assert gate.peak == 1


async def test_queued_requests_keep_their_body_and_run_one_at_a_time() -> None:
    gate = Gate()
    app = _middleware(gate, max_inflight_requests=2)
    calls = [Call(app, "/api/cart/items", body=f"body-{n}".encode()) for n in range(6)]
    await _settle()
    assert gate.running == 2 and app.shop.waiting == 4
    gate.open.set()
    await asyncio.gather(*(c.task for c in calls))
    assert all(c.status == 200 for c in calls)
    assert gate.bodies == [f"body-{n}".encode() for n in range(6)]  # whole, and in order
    assert gate.peak == 2
    assert (app.shop.in_flight, app.shop.waiting) == (0, 0)


async def test_a_client_that_disconnects_while_queued_leaves_without_a_slot() -> None:
    gate = Gate()
    app = _middleware(gate)
    holder = Call(app, "/api/cart")
    await _settle()
    quitter = Call(app, "/api/cart")
    after = Call(app, "/api/cart")
    await _settle()
    assert app.shop.waiting == 2
    quitter.disconnect()
    await asyncio.wait_for(quitter.task, 1)
    assert quitter.sent == []  # nobody left to answer
    assert (app.shop.in_flight, app.shop.waiting) == (1, 1)
    gate.open.set()
    await asyncio.gather(holder.task, after.task)
    assert gate.paths == ["/api/cart", "/api/cart"]  # the quitter never ran
    assert (app.shop.in_flight, app.shop.waiting) == (0, 0)


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/healthz", "*/*"),
        ("/readyz", "*/*"),
        ("/metrics", "*/*"),
        ("/static/app.js", "*/*"),
        ("/api/inventory/stream", "*/*"),
        ("/api/anything", "text/event-stream"),
    ],
)
async def test_exempt_paths_never_queue(path: str, accept: str) -> None:
    gate = Gate()
    app = _middleware(gate, admission_queue_timeout_seconds=0.05)
    holder = Call(app, "/api/cart")
    await _settle()
    exempt = Call(app, path, accept=accept)
    await _settle()
    assert gate.running == 2  # ran beside the holder, over the cap of 1
    assert app.shop.waiting == 0
    gate.open.set()
    await asyncio.gather(holder.task, exempt.task)
    assert exempt.status == 200


async def test_webhooks_have_their_own_lane() -> None:
    gate = Gate()
    app = _middleware(gate, admission_webhook_reserve=1, admission_queue_timeout_seconds=0.05)
    shoppers = [Call(app, "/api/cart") for _ in range(3)]
    await _settle()
    assert app.shop.waiting == 2
    stripe = Call(app, "/api/webhooks/stripe", body=b'{"id": "evt_1"}')
    await _settle()
    assert "/api/webhooks/stripe" in gate.paths  # admitted ahead of the queued shoppers
    second = Call(app, "/api/inventory/webhook", body=b"{}")
    await asyncio.wait_for(second.task, 1)
    assert second.status == 503  # its lane is full (1) and the wait timed out
    gate.open.set()
    await asyncio.gather(stripe.task, *(c.task for c in shoppers if not c.task.done()))
    assert stripe.status == 200
    assert (app.webhooks.in_flight, app.shop.in_flight) == (0, 0)


async def test_zero_turns_admission_control_off() -> None:
    gate = Gate()
    app = _middleware(gate, max_inflight_requests=0)
    calls = [Call(app, "/api/cart") for _ in range(5)]
    await _settle()
    assert gate.running == 5
    gate.open.set()
    await asyncio.gather(*(c.task for c in calls))


def test_the_default_cap_is_the_database_pool_size() -> None:
    assert load_settings(database_pool_size=7).resolved_max_inflight_requests == 7
    assert load_settings(max_inflight_requests=3).resolved_max_inflight_requests == 3
