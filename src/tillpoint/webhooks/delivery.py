"""Delivering webhooks: a sweeper job claims due deliveries, POSTs each signed event to its
endpoint and records the outcome.

Three short steps so no transaction stays open while a receiver answers: claim (rows
taken with ``SKIP LOCKED`` on PostgreSQL and leased by pushing ``next_attempt_at`` past
the timeout, so another instance does not take them meanwhile), POST, record. A 2xx is
``delivered``; anything else is retried with exponential backoff and jitter until
``webhook_max_attempts``, then ``failed``. Redirects are not followed (a 3xx is a failure:
the owner fixes the URL). Every attempt is logged with its status code, error and time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.errors import InvalidInput
from tillpoint.runtime import Runtime
from tillpoint.webhooks.endpoints import signing_secrets
from tillpoint.webhooks.events import event_body
from tillpoint.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tillpoint.webhooks.queries import claim_due_deliveries
from tillpoint.webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from tillpoint.webhooks.urls import check_url

log = logging.getLogger(__name__)
T = TypeVar("T", WebhookEndpoint, WebhookEvent)

MAX_BACKOFF = timedelta(hours=6)
USER_AGENT = "tillpoint-webhooks/1"


@dataclass(frozen=True, slots=True)
class _Job:
    """A claimed delivery with everything its POST needs."""

    delivery_id: str
    url: str
    event_id: str
    event_type: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: ``status_code`` None when no answer came."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(settings_base: float, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: base x 2^(attempts-1), plus up to 20 %
    jitter (so endpoints that failed together do not retry together), at most 6 h."""
    wait = settings_base * 2 ** max(0, attempts - 1)
    wait *= 1 + random.uniform(0, 0.2)  # noqa: S311 (jitter, not a secret)
    return min(MAX_BACKOFF, timedelta(seconds=wait))


async def _claim(rt: Runtime, now: datetime, batch: int) -> list[_Job]:
    lease = timedelta(seconds=rt.settings.webhook_timeout_seconds + 60)
    async with rt.db.transaction() as s:
        q = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(batch)
        )
        rows = list((await s.scalars(claim_due_deliveries(s, q))).all())
        if not rows:
            return []
        # Their endpoints and events in two reads, not two per delivery.
        endpoints = await _by_id(s, WebhookEndpoint, {r.endpoint_id for r in rows})
        events = await _by_id(s, WebhookEvent, {r.event_id for r in rows})
        jobs = []
        for row in rows:
            row.next_attempt_at = now + lease  # claimed: retried only if this worker dies
            job = _job(row, endpoints.get(row.endpoint_id), events.get(row.event_id), now)
            if job is not None:
                jobs.append(job)
        return jobs


async def _by_id(s: AsyncSession, model: type[T], ids: set[str]) -> dict[str, T]:
    rows = await s.scalars(select(model).where(model.id.in_(sorted(ids))))
    return {row.id: row for row in rows}


def _job(
    row: WebhookDelivery,
    endpoint: WebhookEndpoint | None,
    event: WebhookEvent | None,
    now: datetime,
) -> _Job | None:
    if endpoint is None or event is None or not endpoint.active:
        why = "endpoint disabled" if endpoint is not None else "endpoint or event gone"
        row.status, row.last_error, row.next_attempt_at = "failed", why, None
        return None
    body = event_body(event.id, event.type, event.created_at, event.payload)
    secrets = tuple(signing_secrets(endpoint, now))
    return _Job(row.id, endpoint.url, event.id, event.type, body, secrets)


async def _post(rt: Runtime, client: httpx.AsyncClient, job: _Job) -> Outcome:
    started = time.perf_counter()
    timestamp = int(rt.clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(job.secrets, timestamp, job.body),
        EVENT_ID_HEADER: job.event_id,
        EVENT_TYPE_HEADER: job.event_type,
    }
    status, error = None, None
    try:
        await check_url(rt.settings, job.url)  # the host may resolve elsewhere by now
        response = await client.post(job.url, content=job.body, headers=headers)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except InvalidInput as exc:
        error = f"refused: {exc.message}"
    except httpx.TimeoutException:
        error = f"timeout after {rt.settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return Outcome(status, error, int((time.perf_counter() - started) * 1000))


async def _record(rt: Runtime, job: _Job, outcome: Outcome) -> str:
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        row = await s.get(WebhookDelivery, job.delivery_id, populate_existing=True)
        if row is None:  # the endpoint was removed meanwhile
            return "gone"
        row.attempts += 1
        row.last_status_code = outcome.status_code
        row.last_error = None if outcome.error is None else outcome.error[:500]
        if outcome.ok:
            row.status, row.delivered_at, row.next_attempt_at = "delivered", now, None
        elif row.attempts >= rt.settings.webhook_max_attempts:
            row.status, row.next_attempt_at = "failed", None
        else:
            base = rt.settings.webhook_retry_base_seconds
            row.next_attempt_at = now + backoff(base, row.attempts)
        _log_attempt(job, row, outcome)
        return row.status


def _log_attempt(job: _Job, row: WebhookDelivery, outcome: Outcome) -> None:
    log.log(
        logging.INFO if outcome.ok else logging.WARNING,
        "webhook delivery attempt",
        extra={
            "delivery_id": job.delivery_id,
            "event_id": job.event_id,
            "event_type": job.event_type,
            "url": job.url,
            "attempt": row.attempts,
            "status": row.status,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
        },
    )


async def deliver_webhooks(rt: Runtime, *, batch: int = 50) -> int:
    """The sweeper job: POST due deliveries (concurrently); returns how many succeeded."""
    jobs = await _claim(rt, rt.clock.now(), batch)
    if not jobs:
        return 0
    timeout = httpx.Timeout(rt.settings.webhook_timeout_seconds)
    # No redirects (the owner fixes the URL) and no proxy from the environment (the SSRF
    # check above is about the address we connect to).
    client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
    async with client:
        outcomes = await asyncio.gather(*(_post(rt, client, job) for job in jobs))
    delivered = 0
    for job, outcome in zip(jobs, outcomes, strict=True):
        delivered += await _record(rt, job, outcome) == "delivered"
    return delivered
