"""``tillpoint audit verify``: walk every chain and say where it breaks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select

from tillpoint.audit.chain import row_hash
from tillpoint.audit.models import GENESIS_HASH, AuditChainHead, AuditLog
from tillpoint.audit.queries import read_one_snapshot
from tillpoint.runtime import Runtime

_MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class ChainHeadState:
    chain: int
    seq: int
    hash: str


@dataclass
class ChainReport:
    """What a verification found: rows checked, the heads, and every break (capped).

    ``head_seq`` is the number of rows the heads vouch for (their ``seq`` summed) and
    ``head_hash`` one digest of every head (:func:`anchor`): export it to anchor the log."""

    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    chains: list[ChainHeadState] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)


def anchor(heads: list[ChainHeadState]) -> str:
    """One hash over every chain head (in chain order); the genesis hash when none."""
    if not heads:
        return GENESIS_HASH
    lines = "\n".join(f"{h.chain}:{h.seq}:{h.hash}" for h in sorted(heads, key=lambda h: h.chain))
    return hashlib.sha256(lines.encode()).hexdigest()


class _Walk:
    """The running state of one chain while its rows stream past."""

    def __init__(self, report: ChainReport, chains: int) -> None:
        self.report, self.k = report, chains
        self.chain: int | None = None
        self.seen: set[int] = set()
        self.expected_seq, self.prev_hash = 1, GENESIS_HASH

    def start(self, chain: int) -> None:
        self.chain, self.expected_seq, self.prev_hash = chain, 1, GENESIS_HASH
        self.seen.add(chain)
        if not 0 <= chain < self.k:
            self.report.add(
                f"chain {chain}: outside chains 0..{self.k - 1} (TILLPOINT_AUDIT_CHAINS={self.k})"
            )

    def row(self, row: AuditLog) -> None:
        self.report.checked += 1
        where = f"chain {row.chain} seq {row.seq} ({row.id})"
        if row.seq != self.expected_seq:
            self.report.add(f"{where}: expected seq {self.expected_seq} (rows missing)")
        if row.prev_hash != self.prev_hash:
            self.report.add(f"{where}: does not link to the row before it")
        if row_hash(row.prev_hash, row) != row.hash:
            self.report.add(f"{where}: content does not match its hash")
        self.expected_seq, self.prev_hash = row.seq + 1, row.hash

    def end(self, head: ChainHeadState | None) -> None:
        chain, last = self.chain, self.expected_seq - 1
        if head is None:
            if last:
                self.report.add(f"chain {chain}: no chain head, the chain ends at seq {last}")
            return
        if head.seq != last or head.hash != self.prev_hash:
            self.report.add(
                f"chain {chain}: chain head says seq {head.seq}, the chain ends at seq {last}"
                " (rows missing at the end, or the head was altered)"
            )


async def verify_chain(rt: Runtime, *, batch: int = 1000) -> ChainReport:
    """Check every chain's rows in ``seq`` order: no gap, each links to the previous hash
    in its chain, each hash recomputes from its content, each head names its chain's last
    row, and no row or head lies outside the configured chains. A deleted row shows as a
    gap or a broken link; an edited row as a hash mismatch; a removed tail at the head."""
    report = ChainReport()
    walk = _Walk(report, rt.settings.audit_chains)
    async with rt.db.transaction() as s:
        # One snapshot for heads and rows: appends committing during the walk must not
        # look like a head ahead of its chain.
        await read_one_snapshot(s)
        heads = {
            h.chain: ChainHeadState(h.chain, h.seq, h.hash)
            for h in (await s.scalars(select(AuditChainHead))).all()
        }
        stream = await s.stream_scalars(
            select(AuditLog)
            .order_by(AuditLog.chain, AuditLog.seq)
            .execution_options(yield_per=batch)
        )
        async for row in stream:
            if row.chain != walk.chain:
                if walk.chain is not None:
                    walk.end(heads.get(walk.chain))
                walk.start(row.chain)
            walk.row(row)
    if walk.chain is not None:
        walk.end(heads.get(walk.chain))
    for chain in sorted(heads.keys() - walk.seen):
        walk.start(chain)  # a head whose chain has no row must still be at the genesis
        walk.end(heads[chain])
    report.chains = [heads[c] for c in sorted(heads)]
    report.head_seq = sum(h.seq for h in report.chains)
    report.head_hash = anchor(report.chains)
    return report
