"""A guard for the rule "in any transaction the audit chain head is the last lock taken"
(docs/security.md, Audit trail), installed on every PostgreSQL runtime the tests build.

Two transactions that take the same locks in opposite orders deadlock, and every write
appends to one of a few audit chains: a step that locked its chain's head and then waited
for, say, a stock row would deadlock with CONFIRM_ORDER, which locks stock first and the
head last. Only a load benchmark caught that once (36 deadlocks in 30 s), so this guard
watches every statement the tests send: after a transaction's audit append, a statement
that locks rows (``UPDATE``, ``DELETE``, ``SELECT … FOR UPDATE``, an upsert) may only touch
tables the transaction already locked or wrote before it (a cart's lines and coupons count
as held once the cart is). It works per table, not per row: it catches a new kind of lock
after the head, not a second row of a kind already held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_AUDIT_HEAD = "audit_chain_head"
_UPDATE = re.compile(r"^\s*UPDATE\s+(\w+)", re.I)
_DELETE = re.compile(r"^\s*DELETE\s+FROM\s+(\w+)", re.I)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.I)
_UPSERT = re.compile(r"\bON\s+CONFLICT\b.*\bDO\s+UPDATE\b", re.I | re.S)
_FOR_UPDATE = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b(?:\s+OF\s+([\w\s,]+))?", re.I)
_FROM_OR_JOIN = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.I)
_KEY = "tillpoint.lock_order"
# Rows every writer reaches only through their parent's row lock (a cart's lines and
# applied coupons: every cart write locks the cart first), so holding the parent covers them.
_COVERED_BY = {"cart_items": "carts", "applied_coupons": "carts"}


def locked_tables(statement: str) -> set[str]:
    """The tables whose existing rows ``statement`` locks (empty for a plain read)."""
    tables: set[str] = set()
    for pattern in (_UPDATE, _DELETE):
        match = pattern.match(statement)
        if match:
            tables.add(match.group(1).lower())
    insert = _INSERT.match(statement)
    if insert and _UPSERT.search(statement):
        tables.add(insert.group(1).lower())
    for match in _FOR_UPDATE.finditer(statement):
        if match.group(1):
            tables.update(t.strip().lower() for t in match.group(1).split(",") if t.strip())
        else:
            tables.update(t.lower() for t in _FROM_OR_JOIN.findall(statement))
    return tables


def written_tables(statement: str) -> set[str]:
    """Tables ``statement`` locks or inserts into: rows the transaction then owns."""
    insert = _INSERT.match(statement)
    return locked_tables(statement) | ({insert.group(1).lower()} if insert else set())


@dataclass
class _Transaction:
    owned: set[str] = field(default_factory=set)
    audit_taken: bool = False
    seen: list[str] = field(default_factory=list)  # the statements so far, for the report


@dataclass
class LockOrderGuard:
    """Watches one engine; ``violations`` lists each lock taken after an audit append."""

    violations: list[str] = field(default_factory=list)
    transactions: int = 0  # how many it watched: proof it was installed where it matters

    def install(self, engine: Engine) -> None:
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _begin(self, conn: Any) -> None:
        self.transactions += 1
        conn.info[_KEY] = _Transaction()

    def _end(self, conn: Any) -> None:
        conn.info.pop(_KEY, None)

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        tx: _Transaction | None = conn.info.get(_KEY)
        if tx is None:
            return
        tx.seen.append(" ".join(statement.split())[:120])
        if _AUDIT_HEAD in statement:
            # The append itself (with what travels along in its statement) is the head lock.
            tx.owned |= written_tables(statement)
            tx.audit_taken = True
            return
        if tx.audit_taken:
            late = {
                t for t in locked_tables(statement) - tx.owned if _COVERED_BY.get(t) not in tx.owned
            }
            if late:
                before = "\n    ".join(tx.seen[:-1])
                self.violations.append(
                    f"locks {sorted(late)} after the audit head: {tx.seen[-1]}\n"
                    f"  after, in the same transaction:\n    {before}"
                )
        tx.owned |= written_tables(statement)
