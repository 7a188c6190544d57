"""Admission control: at most N requests in flight per worker, the rest wait in FIFO order.

Without it a surge (1,000 shoppers racing for one product) sends every request into the
database pool at once; each request then queues at the pool once per transaction, and the
unlucky ones wait past the pool's 30 s timeout (503 ``database_busy``). Here a request
waits once, before any work, in arrival order, and once admitted finds a connection free.
A request that waits longer than the queue timeout, or arrives to a full queue, gets
``503 server_busy`` with ``Retry-After``: never an endless wait.

Not queued: health, readiness and metrics (they must answer under load), static assets,
and the inventory event stream (it would hold a slot for as long as the page is open).
Webhooks get a small lane of their own so Stripe's deliveries never wait behind shoppers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from tillpoint.config import Settings
from tillpoint.web.middleware import ASGIApp, Message, Receive, Scope, Send, _header, route_path

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/inventory/stream"})
EXEMPT_PREFIXES = ("/static/",)
WEBHOOK_PREFIXES = ("/api/webhooks/", "/api/inventory/webhook")
RETRY_AFTER_SECONDS = 5

IN_FLIGHT = Gauge("tillpoint_admission_in_flight", "Requests admitted and running", ["lane"])
QUEUE_DEPTH = Gauge("tillpoint_admission_queue_depth", "Requests waiting for admission", ["lane"])
WAIT = Histogram(
    "tillpoint_admission_wait_seconds",
    "Time a request waited for admission (0 when a slot was free)",
    ["lane"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REJECTED = Counter(
    "tillpoint_admission_rejected_total", "Requests refused 503 server_busy", ["lane", "reason"]
)


class Overloaded(Exception):
    """No slot within the queue timeout, or the queue was full. ``reason``: timeout | queue_full."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AdmissionLimiter:
    """A FIFO semaphore with a bounded queue and a wait timeout.

    ``release`` hands the slot straight to the oldest waiter (``in_flight`` does not drop),
    so a newcomer can never overtake the queue.
    """

    def __init__(
        self, capacity: int, max_queue: int, timeout: float, lane: str = "default"
    ) -> None:
        self.capacity = capacity
        self.max_queue = max_queue
        self.timeout = timeout
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._in_flight_gauge = IN_FLIGHT.labels(lane)
        self._depth_gauge = QUEUE_DEPTH.labels(lane)
        self._wait = WAIT.labels(lane)
        self._lane = lane

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting in line if none is free; raise ``Overloaded`` instead of
        waiting past the timeout or joining a full queue. The caller must ``release``."""
        if self.in_flight < self.capacity and not self._waiters:
            self.in_flight += 1  # the uncontended path: no future, no clock
            self._in_flight_gauge.inc()
            self._wait.observe(0)
            return
        if len(self._waiters) >= self.max_queue:
            REJECTED.labels(self._lane, "queue_full").inc()
            raise Overloaded("queue_full")
        started = time.monotonic()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._depth_gauge.inc()
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(fut)
        except BaseException as exc:
            if fut.done():
                # The slot arrived as the wait ended (timeout, cancellation, disconnect):
                # it is ours now, so pass it on rather than leak it.
                self.release()
            else:
                fut.cancel()
                self._waiters.remove(fut)
                self._depth_gauge.dec()
            if isinstance(exc, TimeoutError):
                REJECTED.labels(self._lane, "timeout").inc()
                raise Overloaded("timeout") from None
            raise
        self._wait.observe(time.monotonic() - started)

    def release(self) -> None:
        """Give back a slot: to the oldest waiter if any, else to the pool of free slots."""
        if self._waiters:
            self._waiters.popleft().set_result(None)
            self._depth_gauge.dec()
            return
        self.in_flight -= 1
        self._in_flight_gauge.dec()


class AdmissionMiddleware:
    """Admit each HTTP request through ``AdmissionLimiter`` (webhooks through their own);
    exempt paths pass straight through. Pure ASGI: an admitted request costs one counter."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        capacity = settings.resolved_max_inflight_requests
        self.enabled = capacity > 0
        queue, timeout = settings.admission_max_queue, settings.admission_queue_timeout_seconds
        self.shop = AdmissionLimiter(capacity, queue, timeout, "shop")
        self.webhooks = AdmissionLimiter(
            max(settings.admission_webhook_reserve, 1), queue, timeout, "webhooks"
        )

    def limiter_for(self, scope: Scope) -> AdmissionLimiter | None:
        path = route_path(scope)
        if path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES):
            return None
        if "text/event-stream" in (_header(scope, b"accept") or ""):
            return None
        return self.webhooks if path.startswith(WEBHOOK_PREFIXES) else self.shop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter_for(scope) if scope["type"] == "http" and self.enabled else None
        if limiter is None:
            await self.app(scope, receive, send)
            return
        if limiter.in_flight < limiter.capacity and not limiter.waiting:
            await limiter.acquire()  # free slot: returns at once, no disconnect watch needed
            try:
                await self.app(scope, receive, send)
            finally:
                limiter.release()
            return
        watch = _DisconnectWatch(receive)
        try:
            try:
                await watch.until(limiter.acquire())
            except Overloaded as exc:
                await _send_busy(send, exc.reason)
                return
            except _Disconnected:
                return  # nobody to answer; the queue position is already given back
            try:
                await self.app(scope, watch.receive, send)
            finally:
                limiter.release()
        finally:
            watch.close()  # a read nobody took (refused, or the app never asked) is dropped


class _Disconnected(Exception):
    pass


class _DisconnectWatch:
    """Reads the request while it waits in line, so a client that gives up (disconnects)
    leaves the queue instead of being served later. Body chunks read meanwhile are kept
    and handed to the app first; a read still pending at admission is handed on too
    (never cancelled, so no server can lose a message)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._buffer: deque[Message] = deque()
        self._pending: asyncio.Task[Message] | None = None

    async def until(self, admitted: Coroutine[Any, Any, None]) -> None:
        waiter = asyncio.ensure_future(admitted)
        try:
            while True:
                if self._pending is None:
                    self._pending = asyncio.ensure_future(self._receive())
                done, _ = await asyncio.wait(
                    {waiter, self._pending}, return_when=asyncio.FIRST_COMPLETED
                )
                if waiter in done:
                    waiter.result()  # Overloaded propagates
                    return
                message = self._pending.result()
                self._pending = None
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                self._buffer.append(message)
        finally:
            if not waiter.done():
                waiter.cancel()  # acquire() gives back anything it got on cancellation
                with contextlib.suppress(asyncio.CancelledError, Overloaded):
                    await waiter

    async def receive(self) -> Message:
        if self._buffer:
            return self._buffer.popleft()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return await pending
        return await self._receive()

    def close(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()


async def _send_busy(send: Send, reason: str) -> None:
    message = (
        "The shop is very busy right now. Please retry in a moment."
        if reason == "timeout"
        else "Too many requests are waiting right now. Please retry in a moment."
    )
    body = json.dumps({"error": {"code": "server_busy", "message": message, "fields": []}})
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
