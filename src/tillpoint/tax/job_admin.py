"""The owner's view of tax recording: which jobs are waiting or gave up, and sending a
job that gave up once more (after fixing the provider's keys, say) — no SQL needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.errors import Conflict, NotFound
from tillpoint.runtime import Runtime
from tillpoint.tax.models import TaxTransactionJob

JOB_STATUSES = ("pending", "done", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class TaxJobInfo:
    id: str
    order_id: str
    provider: str
    kind: str
    status: str
    attempts: int
    available_at: datetime
    last_error: str | None


def _info(job: TaxTransactionJob) -> TaxJobInfo:
    return TaxJobInfo(job.id, job.order_id, job.provider, job.kind, job.status, job.attempts,
                      job.available_at, job.last_error)  # fmt: skip


async def list_tax_jobs(rt: Runtime, status: str | None, limit: int = 100) -> list[TaxJobInfo]:
    """Jobs, oldest first; ``status`` narrows to one of :data:`JOB_STATUSES`."""
    t = TaxTransactionJob
    q = select(t).order_by(t.created_at, t.id).limit(limit)
    if status is not None:
        q = q.where(t.status == status)
    async with rt.db.transaction() as s:
        return [_info(job) for job in (await s.scalars(q)).all()]


async def retry_tax_job(rt: Runtime, job_id: str, *, actor: Actor = SYSTEM) -> TaxJobInfo:
    """Send a ``failed`` job again at the next sweep, its attempts counted afresh."""
    async with rt.db.transaction() as s:
        job = await s.get(TaxTransactionJob, job_id, with_for_update=True)
        if job is None:
            raise NotFound("No tax job has this id.", code="tax_job_not_found")
        if job.status != "failed":
            raise Conflict(f"Only a failed job is retried; this one is {job.status}.",
                           code="tax_job_not_failed")  # fmt: skip
        job.status, job.attempts, job.available_at = "pending", 0, rt.clock.now()
        meta = {"order_id": job.order_id, "kind": job.kind, "provider": job.provider}
        event = AuditEvent("tax_job_retried", "tax_transaction", job.id, "retried", meta)
        await record(s, event, actor, rt.clock.now())
        return _info(job)
