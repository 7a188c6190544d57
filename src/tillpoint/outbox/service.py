"""The transactional outbox: notifications queued with the change they announce and
delivered afterwards by a worker, at least once, with backoff.

``enqueue`` runs inside the caller's unit of work (an order and its confirmation
email commit together or not at all). ``deliver_pending`` claims due rows with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so every instance may run it, sends them
through a :class:`Sender`, and marks them sent or reschedules them.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.config import Settings
from tillpoint.ids import new_id
from tillpoint.outbox.models import OutboxMessage
from tillpoint.outbox.queries import claim_due_messages
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    recipient: str | None
    payload: dict[str, Any]


class Sender(Protocol):
    async def send(self, message: Message) -> None:
        """Deliver one message or raise; raising reschedules it."""
        ...


class LogSender:
    """Writes each notification to the log (the default: no mail server needed)."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        # The text part only: the HTML twin would bury the log line.
        fields = {k: v for k, v in message.payload.items() if k != "html"}
        log.info(
            "notification", extra={"kind": message.kind, "recipient": message.recipient, **fields}
        )


def build_email(message: Message, sender: str) -> EmailMessage:
    """The MIME message: plain text, plus an HTML alternative when the payload has one
    (``multipart/alternative``: mail clients show the richest part they can)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient or ""
    email["Subject"] = str(message.payload.get("subject") or message.kind)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    email.set_content(str(message.payload.get("text") or ""))
    html = message.payload.get("html")
    if html:
        email.add_alternative(str(html), subtype="html")
    return email


class SmtpSender:
    """Sends notifications as email (text and HTML parts) through an SMTP server."""

    def __init__(self, host: str, port: int, sender: str, *, starttls: bool = False) -> None:
        self.host, self.port, self.sender, self.starttls = host, port, sender, starttls

    def _send_sync(self, message: Message) -> None:
        email = build_email(message, self.sender)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            smtp.send_message(email)

    async def send(self, message: Message) -> None:
        if not message.recipient:
            raise ValueError("no recipient")
        await asyncio.to_thread(self._send_sync, message)


def _from_header(settings: Settings) -> str:
    """``Shop name <orders@shop>`` unless the setting already names a display name."""
    if "<" in settings.notification_from:
        return settings.notification_from
    return formataddr((settings.shop_name, settings.notification_from))


def sender_for(settings: Settings) -> Sender:
    """SMTP when a host is configured, the log otherwise."""
    if settings.notification_smtp_host:
        return SmtpSender(
            settings.notification_smtp_host,
            settings.notification_smtp_port,
            _from_header(settings),
            starttls=settings.notification_smtp_starttls,
        )
    return LogSender()


async def deliver_outbox(rt: Runtime) -> int:
    """The sweeper job: deliver due notifications with the configured sender."""
    return await deliver_pending(rt, sender_for(rt.settings))


def enqueue(
    s: AsyncSession,
    *,
    kind: str,
    dedupe_key: str,
    recipient: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> OutboxMessage:
    """Queue a message in the caller's unit of work (``dedupe_key`` is unique)."""
    row = OutboxMessage(
        id=new_id("msg"),
        kind=kind,
        dedupe_key=dedupe_key,
        recipient=recipient,
        payload=payload,
        status="pending",
        attempts=0,
        available_at=now,
        created_at=now,
    )
    s.add(row)
    return row


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


async def deliver_pending(rt: Runtime, sender: Sender, *, batch: int = 50) -> int:
    """Send due messages; returns how many were sent now."""
    now = rt.clock.now()
    sent = 0
    async with rt.db.transaction() as s:
        q = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
            .limit(batch)
        )
        rows = list((await s.scalars(claim_due_messages(s, q))).all())
        for row in rows:
            row.attempts += 1
            try:
                await sender.send(Message(row.kind, row.recipient, dict(row.payload)))
            except Exception as exc:  # any sender failure is retried later
                row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                else:
                    row.available_at = now + _backoff(row.attempts)
                continue
            row.status = "sent"
            row.sent_at = now
            row.last_error = None
            sent += 1
    return sent
