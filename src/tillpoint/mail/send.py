"""Queueing a rendered email in the caller's unit of work (the outbox delivers it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.config import Settings
from tillpoint.mail.kinds import EmailData, RenderedEmail
from tillpoint.mail.render import render_email
from tillpoint.outbox import service as outbox


def queue_email(
    s: AsyncSession,
    settings: Settings,
    data: EmailData,
    *,
    recipient: str | None,
    dedupe_key: str,
    refs: Mapping[str, str] | None = None,
    now: datetime,
    locale: str | None = None,
) -> RenderedEmail:
    """Render ``data`` and queue it with the change it announces: it is sent (text + HTML)
    after the transaction commits, never if it rolls back. ``dedupe_key`` is unique: the
    same key twice is refused by the database. ``refs`` are ids kept beside the message."""
    rendered = render_email(data, settings, locale=locale)
    outbox.enqueue(
        s, kind=data.kind.value, dedupe_key=dedupe_key[:255], recipient=recipient,
        payload={**rendered.payload(), **(refs or {})}, now=now,
    )  # fmt: skip
    return rendered
