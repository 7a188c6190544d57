"""``tillpoint audit verify``: walk the chain and say where it breaks."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from tillpoint.audit.chain import HEAD_ID, row_hash
from tillpoint.audit.models import GENESIS_HASH, AuditChainHead, AuditLog
from tillpoint.runtime import Runtime

_MAX_PROBLEMS = 100


@dataclass
class ChainReport:
    """What a verification found: rows checked, the head, and every break (capped)."""

    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)


async def verify_chain(rt: Runtime, *, batch: int = 1000) -> ChainReport:
    """Check every row in ``seq`` order: no gap, each links to the previous hash, each
    hash recomputes from its content, and the head names the last row. A deleted row
    shows as a gap or a broken link; an edited row as a hash mismatch."""
    report = ChainReport()
    expected_seq, prev_hash = 1, GENESIS_HASH
    async with rt.db.transaction() as s:
        head = await s.get(AuditChainHead, HEAD_ID)
        stream = await s.stream_scalars(
            select(AuditLog).order_by(AuditLog.seq).execution_options(yield_per=batch)
        )
        async for row in stream:
            report.checked += 1
            if row.seq != expected_seq:
                report.add(f"seq {row.seq}: expected seq {expected_seq} (rows missing)")
            if row.prev_hash != prev_hash:
                report.add(f"seq {row.seq} ({row.id}): does not link to the row before it")
            if row_hash(row.prev_hash, row) != row.hash:
                report.add(f"seq {row.seq} ({row.id}): content does not match its hash")
            expected_seq, prev_hash = row.seq + 1, row.hash
    if head is not None:
        report.head_seq, report.head_hash = head.seq, head.hash
    if report.head_seq != expected_seq - 1 or report.head_hash != prev_hash:
        report.add(
            f"chain head says seq {report.head_seq}, the table ends at seq {expected_seq - 1}"
            " (rows missing at the end, or the head was altered)"
        )
    return report
