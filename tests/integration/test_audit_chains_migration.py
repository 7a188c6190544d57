"""Migration sec_0002 on a database with rows written by the one-chain log (sec_0001):
their stored hashes still verify (nothing is recomputed), tampering with them still
shows, new appends spread over the chains, and the append-only triggers survive."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import PG_ADMIN_URL, _raw_pg_dsn
from tests.support import MovableClock
from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.audit.verify import verify_chain
from tillpoint.bootstrap import build_runtime
from tillpoint.config import load_settings
from tillpoint.db import JSONType, UTCDateTime
from tillpoint.migrate import alembic_config, upgrade_async

GENESIS = "0" * 64
OLD_LOG = sa.table(
    "audit_logs",
    *(sa.column(name) for name in ("id", "event_type", "entity_type", "entity_id", "action")),
    *(sa.column(name) for name in ("user_id", "session_id", "ip_address", "user_agent")),
    sa.column("metadata", JSONType),
    sa.column("timestamp", UTCDateTime),
    *(sa.column(name) for name in ("seq", "prev_hash", "hash")),
)


def _old_hash(prev: str, row: dict[str, Any]) -> str:
    """sec_0001's hash, written out here so this test does not lean on today's code."""
    payload = {k: v for k, v in row.items() if k not in {"prev_hash", "hash", "timestamp"}}
    payload["timestamp"] = row["timestamp"].astimezone(UTC).isoformat(timespec="microseconds")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest()


@pytest.fixture
async def fresh_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of this test's own (the shared one is already at every head)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"tillpoint_t_{os.getpid()}_audit_migration"
    admin = await asyncpg.connect(_raw_pg_dsn(PG_ADMIN_URL), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _write_old_chain(url: str, n: int) -> list[dict[str, Any]]:
    rows, prev = [], GENESIS
    start = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
    for seq in range(1, n + 1):
        row: dict[str, Any] = {
            "id": f"aud_old{seq}",
            "event_type": "item_added",
            "entity_type": "cart",
            "entity_id": f"cart_old{seq}",
            "action": "add",
            "user_id": None,
            "session_id": "s" * 64,
            "ip_address": "198.51.100.4",
            "user_agent": "pytest",
            "metadata": {"quantity": seq, "note": "ünïcode"},
            "timestamp": start + timedelta(seconds=seq),
            "seq": seq,
            "prev_hash": prev,
        }
        row["hash"] = prev = _old_hash(prev, row)
        rows.append(row)
    db = create_async_engine(url)
    async with db.begin() as conn:
        await conn.execute(OLD_LOG.insert(), rows)
        await conn.execute(
            sa.text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, :seq, :hash)"),
            {"seq": n, "hash": prev},
        )
    await db.dispose()
    return rows


async def test_rows_from_before_the_split_still_verify_and_new_ones_spread(
    fresh_url: str,
) -> None:
    await upgrade_async(fresh_url, "sec_0001")
    old = await _write_old_chain(fresh_url, 3)
    await upgrade_async(fresh_url)
    settings = load_settings(
        mode="test",
        database_url=fresh_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        background_tasks=False,
    )
    rt = build_runtime(settings, clock=MovableClock())
    try:
        report = await verify_chain(rt)
        assert report.ok, report.problems
        assert report.checked == 3
        assert [(h.chain, h.seq, h.hash) for h in report.chains] == [(0, 3, old[-1]["hash"])]
        # Down and up again while every row is in chain 0: still the same chain.
        await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), "sec_0002-1")
        await upgrade_async(fresh_url)
        again = await verify_chain(rt)
        assert again.ok and again.head_hash == report.head_hash, again.problems

        for i in range(12):
            async with rt.db.transaction() as s:
                event = AuditEvent("item_added", "cart", f"cart_new{i}", "add")
                await record(s, event, Actor(), rt.clock.now())
        report = await verify_chain(rt)
        assert report.ok, report.problems
        assert report.checked == 15 and len(report.chains) > 1

        # The triggers still refuse edits (SQLite's were rebuilt with the table).
        with pytest.raises(DBAPIError, match="append-only"):
            async with rt.db.transaction() as s:
                await s.execute(sa.text("UPDATE audit_logs SET action = 'x' WHERE seq = 2"))

        # An old row edited after the migration still shows.
        async with rt.db.engine.connect() as conn:
            if rt.db.is_postgres:
                await conn.execute(sa.text("SET session_replication_role = replica"))
            else:
                await conn.execute(sa.text("DROP TRIGGER audit_logs_no_update"))
            await conn.execute(
                sa.text("UPDATE audit_logs SET entity_id = 'forged' WHERE id = 'aud_old2'")
            )
            await conn.commit()
        problems = (await verify_chain(rt)).problems
        assert problems == ["chain 0 seq 2 (aud_old2): content does not match its hash"]
    finally:
        await rt.close()
