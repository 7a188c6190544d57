"""The outbox: queued with the change, delivered once by the worker, retried with backoff."""

from __future__ import annotations

import pytest

from tests.support import MovableClock
from tillpoint.outbox.models import OutboxMessage
from tillpoint.outbox.service import LogSender, Message, deliver_pending, enqueue
from tillpoint.runtime import Runtime


class FlakySender:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("smtp down")
        self.sent.append(message)


async def _queue(rt: Runtime, key: str = "order_confirmation:ord_1") -> str:
    async with rt.db.transaction() as s:
        row = enqueue(
            s, kind="order_confirmation", dedupe_key=key, recipient="a@example.com",
            payload={"subject": "Order TP-1", "text": "Thanks"}, now=rt.clock.now(),
        )  # fmt: skip
        return row.id


async def test_message_is_delivered_once(rt: Runtime) -> None:
    await _queue(rt)
    sender = LogSender()
    assert await deliver_pending(rt, sender) == 1
    assert await deliver_pending(rt, sender) == 0
    assert [m.payload["subject"] for m in sender.sent] == ["Order TP-1"]


async def test_message_rolled_back_with_its_transaction_is_never_sent(rt: Runtime) -> None:
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as s:
            enqueue(
                s, kind="order_confirmation", dedupe_key="k", recipient=None, payload={},
                now=rt.clock.now(),
            )  # fmt: skip
            raise RuntimeError("order insert failed")
    assert await deliver_pending(rt, LogSender()) == 0


async def test_failed_send_is_retried_after_backoff(rt: Runtime, clock: MovableClock) -> None:
    message_id = await _queue(rt)
    sender = FlakySender(failures=1)
    assert await deliver_pending(rt, sender) == 0
    assert await deliver_pending(rt, sender) == 0  # not due yet
    clock.advance(seconds=31)
    assert await deliver_pending(rt, sender) == 1
    async with rt.db.transaction() as s:
        row = await s.get(OutboxMessage, message_id)
        assert row is not None
        assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
