"""``tillpoint tax jobs | retry`` (both backends): the owner sees which sales, voids and
refunds the tax provider has not recorded and sends one that gave up once more, with no
SQL; a job that did not fail is left as it is; each retry is audited."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tillpoint.audit.models import AuditLog
from tillpoint.cli import app
from tillpoint.runtime import Runtime
from tillpoint.tax.models import TaxTransactionJob


@pytest.fixture
def cli_env(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILLPOINT_DATABASE_URL", rt.settings.database_url)
    monkeypatch.setenv("TILLPOINT_SECRET_KEY", "cli-test-secret-key-long-enough-0123456789")
    monkeypatch.delenv("TILLPOINT_REDIS_URL", raising=False)


async def cli(*args: str) -> tuple[int, str]:
    # The CLI runs its own event loop: off this test's loop, in a thread.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.output


async def _jobs(rt: Runtime) -> None:
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        for n, status in enumerate(("failed", "done", "pending")):
            s.add(TaxTransactionJob(
                id=f"txj_{status}", order_id=f"ord_{n}", provider="avalara", kind="sale",
                rank=0, dedupe_key=f"sale:ord_{n}", payload={}, status=status,
                attempts=10 if status == "failed" else 1,
                available_at=now - timedelta(hours=2), created_at=now - timedelta(hours=3 - n),
                last_error="401 AuthenticationException" if status == "failed" else None,
            ))  # fmt: skip


async def test_the_owner_lists_and_retries_a_failed_job(cli_env: None, rt: Runtime) -> None:
    await _jobs(rt)
    code, out = await cli("tax", "jobs")
    assert code == 0, out
    assert [j["status"] for j in json.loads(out)] == ["failed", "done", "pending"]
    code, out = await cli("tax", "jobs", "--status", "failed")
    (failed,) = json.loads(out)
    assert failed["id"] == "txj_failed" and failed["last_error"] == "401 AuthenticationException"

    code, out = await cli("tax", "retry", "txj_failed")
    assert code == 0, out
    retried = json.loads(out)
    assert retried["status"] == "pending" and retried["attempts"] == 0
    async with rt.db.transaction() as s:
        job = await s.get(TaxTransactionJob, "txj_failed")
        # Due again now (the CLI's own clock), not two hours ago.
        assert job is not None and job.status == "pending"
        assert job.available_at > rt.clock.now() - timedelta(hours=1)
        audit = (await s.scalars(select(AuditLog).where(AuditLog.entity_id == "txj_failed"))).all()
    assert [a.event_type for a in audit] == ["tax_job_retried"]


async def test_only_a_failed_job_is_retried(cli_env: None, rt: Runtime) -> None:
    await _jobs(rt)
    code, out = await cli("tax", "retry", "txj_done")
    assert code == 1 and "tax_job_not_failed" in out
    code, out = await cli("tax", "retry", "txj_nothing")
    assert code == 1 and "tax_job_not_found" in out
    code, out = await cli("tax", "jobs", "--status", "stuck")
    assert code == 2 and "--status must be one of" in out
    async with rt.db.transaction() as s:
        job = await s.get(TaxTransactionJob, "txj_done")
        assert job is not None and job.status == "done" and job.attempts == 1
