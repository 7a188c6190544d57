"""Recording sales at the tax provider, reliably and never in the shopper's way.

The orders feature queues a job in the unit of work of the change it follows: the
sale when the order is paid, a void when it is cancelled, a refund when money goes
back. Nothing is sent then, so a provider outage can neither block nor undo an order.
The sweeper's ``tax_transactions`` job sends them (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so every instance may run it), in order per order (the sale before its
refunds, both before a void), retrying with backoff; each call is idempotent at the
provider (the order number / refund id is the transaction code). A job that keeps
failing is logged at ERROR after ``MAX_ATTEMPTS`` and stays ``failed`` for an operator.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.config import Settings
from tillpoint.ids import new_id
from tillpoint.runtime import Runtime
from tillpoint.tax.models import TaxTransactionJob
from tillpoint.tax.queries import claim_jobs
from tillpoint.tax.transactions import TaxRecorder, TaxRefund, TaxSale
from tillpoint.tax.types import TaxProviderError

log = logging.getLogger(__name__)

RECORDING_PROVIDERS = ("avalara", "taxjar")
MAX_ATTEMPTS = 10
_RANK = {"sale": 0, "refund": 1, "void": 2}


def records_transactions(settings: Settings) -> bool:
    """Whether the configured provider keeps a record of sales (AvaTax, TaxJar)."""
    return settings.tax_provider in RECORDING_PROVIDERS


def _queue(
    s: AsyncSession, settings: Settings, order_id: str, kind: str, key: str,
    payload: dict[str, Any], now: datetime,
) -> None:  # fmt: skip
    s.add(
        TaxTransactionJob(
            id=new_id("txj"), order_id=order_id, provider=settings.tax_provider, kind=kind,
            rank=_RANK[kind], dedupe_key=f"{kind}:{key}", payload=payload, status="pending",
            attempts=0, available_at=now, created_at=now,
        )
    )  # fmt: skip


def queue_tax_sale(s: AsyncSession, settings: Settings, sale: TaxSale, now: datetime) -> None:
    """Record ``sale`` at the provider once this unit of work commits (no-op unless the
    provider records transactions)."""
    if records_transactions(settings):
        _queue(s, settings, sale.order_id, "sale", sale.order_id, sale.to_json(), now)


def queue_tax_void(s: AsyncSession, settings: Settings, order_id: str, now: datetime) -> None:
    """Void the order's recorded sale (the order was cancelled before any refund)."""
    if records_transactions(settings):
        _queue(s, settings, order_id, "void", order_id, {}, now)


def queue_tax_refund(s: AsyncSession, settings: Settings, refund: TaxRefund, now: datetime) -> None:
    """Record ``refund`` of the order's sale."""
    if records_transactions(settings):
        _queue(s, settings, refund.order_id, "refund", refund.code, refund.to_json(), now)


async def _waits(s: AsyncSession, job: TaxTransactionJob) -> bool:
    """Whether an earlier job of the same order is not done yet."""
    t = TaxTransactionJob
    earlier = or_(
        t.rank < job.rank,
        and_(t.rank == job.rank, t.created_at < job.created_at),
    )
    q = select(
        exists().where(
            t.order_id == job.order_id, t.id != job.id, t.status.in_(("pending", "failed")),
            earlier,
        )
    )  # fmt: skip
    return bool(await s.scalar(q))


async def _sale_of(s: AsyncSession, order_id: str) -> TaxSale | None:
    row = await s.scalar(
        select(TaxTransactionJob).where(
            TaxTransactionJob.order_id == order_id, TaxTransactionJob.kind == "sale"
        )
    )
    return TaxSale.from_json(row.payload) if row is not None else None


async def _send(s: AsyncSession, recorder: TaxRecorder, job: TaxTransactionJob) -> bool:
    """Send one job; False when there is no recorded sale to void or refund."""
    if job.kind == "sale":
        await recorder.commit_sale(TaxSale.from_json(job.payload))
        return True
    sale = await _sale_of(s, job.order_id)
    if sale is None:  # an order paid before the provider recorded sales
        return False
    if job.kind == "void":
        await recorder.void_sale(sale)
    else:
        await recorder.refund_sale(sale, TaxRefund.from_json(job.payload))
    return True


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def _failed(job: TaxTransactionJob, exc: TaxProviderError, now: datetime) -> None:
    job.last_error = str(exc)[:500]
    extra = {"order_id": job.order_id, "kind": job.kind, "attempts": job.attempts,
             "provider": job.provider, "reason": job.last_error}  # fmt: skip
    if job.attempts >= MAX_ATTEMPTS:
        job.status = "failed"
        log.error("tax transaction not recorded: giving up", extra=extra)
    else:
        job.available_at = now + _backoff(job.attempts)
        log.warning("tax transaction not recorded: will retry", extra=extra)


async def deliver_tax_transactions(rt: Runtime, *, batch: int = 50) -> int:
    """The sweeper job: send due jobs to the configured recorder; how many were sent."""
    recorder = rt.pricing.tax.recorder
    if recorder is None:
        return 0
    now, sent = rt.clock.now(), 0
    t = TaxTransactionJob
    async with rt.db.transaction() as s:
        q = (
            select(t)
            .where(t.status == "pending", t.available_at <= now, t.provider == recorder.name)
            .order_by(t.rank, t.created_at, t.id)
            .limit(batch)
        )
        for job in list((await s.scalars(claim_jobs(s, q))).all()):
            if await _waits(s, job):
                continue
            job.attempts += 1
            try:
                done = await _send(s, recorder, job)
            except TaxProviderError as exc:
                _failed(job, exc, now)
                continue
            job.status, job.done_at, job.last_error = ("done" if done else "skipped"), now, None
            sent += int(done)
            await s.flush()
    return sent
