"""``tax_transactions``: what the tax provider still has to record (sale, void, refund),
queued in the unit of work of the order change it follows, delivered by the sweeper."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.db import Base, JSONType, UTCDateTime


class TaxTransactionJob(Base):
    __tablename__ = "tax_transactions"
    __table_args__ = (Index("ix_tax_transactions_status_available", "status", "available_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # sale | refund | void
    # Per order: the sale (0) before its refunds (1) before its void (2).
    rank: Mapped[int] = mapped_column(Integer)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16))  # pending | done | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
