"""Live stock over WebSocket: ``/api/inventory/ws``, the seed's ``websocket`` provider on
its ``inventory-updates`` channel, beside the Server-Sent Events stream.

Both transports read one source (``inventory.public.stock_updates``): the same 1 s
throttle per product, the same payload, the same product-id rule, and changes from every
instance through Redis. A WebSocket is not covered by CORS or by the CSRF check, so the
``Origin`` is checked here; connections are capped per client address and in all.

Client messages (JSON text frames): ``{"type": "subscribe", "channel": "inventory-updates",
"product_ids": [...], "last_event_id": "..."}`` (again to change the products) and
``{"type": "ping"}``. Server messages: ``subscribed``, ``stock`` (``id`` and ``data``, the
SSE event's id and data), ``ping`` (heartbeat), ``pong`` and ``error`` (``code``,
``message``, ``fields``: the API's error shape).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, WebSocket
from pydantic import Field, StringConstraints, TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from tillpoint.config import Settings
from tillpoint.errors import InvalidInput
from tillpoint.inventory.public import parse_last_event_id, stock_updates, watchable_product_ids
from tillpoint.runtime import Runtime
from tillpoint.security.client_ip import Network, parse_networks
from tillpoint.security.origins import origin_of
from tillpoint.security.screen import leading_code, message_for, screen_value
from tillpoint.web.schemas import StrictModel
from tillpoint.web.security_middleware import client_ip_of

router = APIRouter(prefix="/api/inventory", tags=["inventory"])
log = logging.getLogger(__name__)

CHANNEL = "inventory-updates"
# Close codes (RFC 6455, 7.4.1; 1013 from the IANA registry).
POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013


class SubscribeIn(StrictModel):
    """The seed's ``subscribeToStockUpdates(productIds)`` on the ``inventory-updates``
    channel; ``last_event_id`` (a ``stock`` message's ``id``) resumes as SSE does."""

    type: Literal["subscribe"]
    channel: Literal["inventory-updates"]
    product_ids: list[Annotated[str, StringConstraints(max_length=40)]] = Field(max_length=500)
    last_event_id: str | None = Field(default=None, pattern=r"^[0-9]{1,16}$")


class PingIn(StrictModel):
    type: Literal["ping"]


_CLIENT_MESSAGE: TypeAdapter[SubscribeIn | PingIn] = TypeAdapter(
    Annotated[SubscribeIn | PingIn, Field(discriminator="type")]
)


@dataclass
class Connections:
    """Open stock sockets of this process, in all and per client address."""

    trusted: tuple[Network, ...]
    total: int = 0
    by_address: Counter[str] = field(default_factory=Counter)

    def admit(self, address: str, settings: Settings) -> bool:
        if (
            self.total >= settings.inventory_ws_max_connections
            or self.by_address[address] >= settings.inventory_ws_max_connections_per_address
        ):
            return False
        self.total += 1
        self.by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.total -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


def connections_for(websocket: WebSocket, settings: Settings) -> Connections:
    """The app's connection counts, made on first use (one event loop: no race)."""
    state = websocket.app.state
    found: Connections | None = getattr(state, "inventory_ws_connections", None)
    if found is None:
        found = Connections(parse_networks(settings.trusted_proxies.split(",")))
        state.inventory_ws_connections = found
    return found


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """No ``Origin`` (not a browser: it carries no one's cookies), the socket's own origin,
    or an allowed one. Browsers always send it, so another site's page is refused."""
    sent = websocket.headers.get("origin")
    if sent is None:
        return True
    origin = origin_of(sent)
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    own = origin_of(f"{scheme}://{websocket.headers.get('host', '')}")
    allowed = {origin_of(o) for o in settings.resolved_allowed_origins}
    return origin is not None and (origin == own or origin in allowed)


@router.websocket("/ws")
async def stock_socket(websocket: WebSocket) -> None:
    """Stock changes of the subscribed products: at most one ``stock`` message per product
    per second. Closes with 1008 for a foreign ``Origin``, 1013 over the connection caps."""
    rt: Runtime = websocket.app.state.runtime
    settings = rt.settings
    if not origin_allowed(websocket, settings):
        # Accepted first so the refusal is a close code the client can read, not a bare 403.
        await websocket.accept()
        await websocket.close(POLICY_VIOLATION, "origin_not_allowed")
        return
    connections = connections_for(websocket, settings)
    address = client_ip_of(websocket.scope, connections.trusted)
    if not connections.admit(address, settings):
        await websocket.accept()
        await websocket.close(TRY_AGAIN_LATER, "too_many_connections")
        return
    try:
        await websocket.accept()
        await StockSocket(websocket, rt).run()
    finally:
        connections.release(address)


class StockSocket:
    """One accepted connection: reads client messages, and forwards the current
    subscription's updates from a task of its own."""

    def __init__(self, websocket: WebSocket, rt: Runtime) -> None:
        self.ws = websocket
        self.rt = rt
        self.settings = rt.settings
        self.lock = asyncio.Lock()  # the reader and the forwarder both send
        self.forwarder: asyncio.Task[None] | None = None
        # Start of the current minute, and the client's messages in it.
        self.window: tuple[float, int] = (asyncio.get_running_loop().time(), 0)

    async def send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_text(json.dumps(message))

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.close(code, reason)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        heartbeat = self.settings.inventory_stream_heartbeat_seconds
        deadline = loop.time() + self.settings.inventory_ws_subscribe_timeout_seconds
        try:
            while True:
                now = loop.time()
                if self.forwarder is None and now >= deadline:
                    await self.close(POLICY_VIOLATION, "subscribe_timeout")
                    return
                wait = heartbeat if self.forwarder else min(heartbeat, deadline - now)
                try:
                    message = await asyncio.wait_for(self.ws.receive(), wait)
                except TimeoutError:
                    if self.forwarder is not None:
                        await self.send({"type": "ping"})
                    continue
                if message["type"] == "websocket.disconnect" or not await self.handle(message):
                    return
        except (WebSocketDisconnect, OSError):
            return  # the client went away mid-send
        finally:
            await self._stop_forwarding()

    async def handle(self, message: Mapping[str, Any]) -> bool:
        """Act on one client frame; False when the connection was closed for it."""
        text = message.get("text")
        if text is None:
            await self.close(UNSUPPORTED_DATA, "text_frames_only")
            return False
        if len(text.encode()) > self.settings.inventory_ws_max_message_bytes:
            await self.close(MESSAGE_TOO_BIG, "message_too_big")
            return False
        if not self._count():
            await self.close(POLICY_VIOLATION, "too_many_messages")
            return False
        parsed = parse_message(text)
        if isinstance(parsed, dict):  # an error answer
            await self.send(parsed)
            return True
        if isinstance(parsed, PingIn):
            await self.send({"type": "pong"})
            return True
        try:
            ids = await watchable_product_ids(self.rt, parsed.product_ids)
        except InvalidInput as exc:
            await self.send(_error(exc.code, str(exc), [f.as_dict() for f in exc.fields]))
            return True
        await self._forward(ids, parse_last_event_id(parsed.last_event_id))
        return True

    def _count(self) -> bool:
        """A fixed one-minute window of client messages."""
        now = asyncio.get_running_loop().time()
        start, count = self.window
        if now - start >= 60:
            start, count = now, 0
        self.window = (start, count + 1)
        return count < self.settings.inventory_ws_messages_per_minute

    async def _forward(self, ids: list[str], last_event_id: int | None) -> None:
        """Replace the subscription; ``subscribed`` goes out once it listens (on every
        instance, with Redis), before any of its updates."""
        await self._stop_forwarding()
        listening = asyncio.get_running_loop().create_future()

        async def acknowledge() -> None:
            await self.send({"type": "subscribed", "channel": CHANNEL, "product_ids": ids})
            listening.set_result(None)

        async def forward() -> None:
            updates = stock_updates(
                self.rt, ids, last_event_id=last_event_id, listening=acknowledge
            )
            try:
                async with contextlib.aclosing(updates):
                    async for update in updates:
                        await self.send(
                            {"type": "stock", "channel": CHANNEL, "id": update.id,
                             "data": update.payload}
                        )  # fmt: skip
            except (WebSocketDisconnect, RuntimeError, OSError):
                return  # the client went away
            except Exception:  # the database, say: the client reconnects and resumes
                log.exception("stock socket failed")
                await self.close(INTERNAL_ERROR, "internal_error")

        self.forwarder = asyncio.create_task(forward())
        # Wait for the acknowledgement (or the forwarder's end), so one subscription's
        # messages never interleave with the next one's.
        await asyncio.wait({listening, self.forwarder}, return_when=asyncio.FIRST_COMPLETED)

    async def _stop_forwarding(self) -> None:
        if self.forwarder is not None:
            self.forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.forwarder
            self.forwarder = None


def parse_message(text: str) -> SubscribeIn | PingIn | dict[str, Any]:
    """The client's message, or the error message that answers it."""
    try:
        data = json.loads(text)
    except ValueError:
        return _error("malformed_json", "The message is not JSON.", [])
    # The API's input gate: no card number, control character or deep nesting, which an
    # error answer (the unknown ids) could otherwise echo. The resume id is our own
    # millisecond timestamp (Luhn-valid one time in ten), checked by its pattern instead.
    screened = (
        {k: v for k, v in data.items() if k != "last_event_id"} if isinstance(data, dict) else data
    )
    if refusals := screen_value(screened):
        code = leading_code(refusals)
        return _error(code, message_for(code), [f.as_dict() for f in refusals])
    try:
        return _CLIENT_MESSAGE.validate_python(data)
    except ValidationError as exc:
        return _invalid_message(exc)


def _error(code: str, message: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "fields": fields}


def _invalid_message(exc: ValidationError) -> dict[str, Any]:
    # The input is never echoed: a message may carry anything.
    fields = [
        {"path": list(e["loc"]), "code": e["type"], "message": e["msg"]} for e in exc.errors()
    ]
    return _error("invalid_message", "The message is not a subscribe or ping message.", fields)
