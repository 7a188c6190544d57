"""The seed's ``audit_logs`` table, hash-chained in K independent chains, and their heads.

Each row belongs to one chain (``chain`` 0..K-1, ``TILLPOINT_AUDIT_CHAINS``) and carries
``seq`` within it (1, 2, 3, ...), the previous row's hash in that chain and its own:
``hash = sha256(prev_hash + canonical(row))``. Editing or deleting any row breaks its
chain from that point on, and ``audit_chain_head`` holds each chain's last ``seq``/``hash``
so a removed tail shows too. Appends to one chain serialize on its head row
(``FOR UPDATE``); appends to different chains run in parallel. On SQLite every
transaction already holds the write lock from ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.db import Base, JSONType, UTCDateTime

GENESIS_HASH = "0" * 64


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_logs_chain_seq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(80), index=True)
    user_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    # Rows from before the chains were split are all chain 0 (the server default).
    chain: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """One row per chain: its last appended ``seq`` and ``hash``; locked to serialize
    the appends to that chain."""

    __tablename__ = "audit_chain_head"

    chain: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
