"""Paid orders as the verified ``checkout.session.completed`` webhook announced them, in a
SQLite file. Recording is idempotent on the event id: tillpoint retries a delivery until
it is answered 2xx, so the same event may arrive twice."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tillpoint.client import WebhookEvent

SCHEMA = """CREATE TABLE IF NOT EXISTS orders (
    event_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, order_number TEXT NOT NULL,
    reference TEXT, email TEXT, amount_total INTEGER NOT NULL, currency TEXT NOT NULL,
    paid_at TEXT NOT NULL)"""


@dataclass(frozen=True)
class PaidOrder:
    event_id: str
    session_id: str
    order_number: str
    reference: str | None
    email: str | None
    amount_total: int
    currency: str
    paid_at: str


class OrderBook:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def record(self, event: WebhookEvent) -> bool:
        """Keep a completed session's order; False when this event was already kept."""
        session, order = event.checkout_session, event.order
        if session is None or order is None:
            raise ValueError(f"event {event.id} carries no session and order")
        with self._connect() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (event.id, session.id, order.number, session.client_reference_id,
                 order.email, order.totals.total, order.currency, event.created_at.isoformat()),
            )  # fmt: skip
            return cursor.rowcount == 1

    def all(self) -> list[PaidOrder]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM orders ORDER BY paid_at DESC").fetchall()
        return [PaidOrder(*row) for row in rows]
