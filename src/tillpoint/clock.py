"""Time as a dependency, so tests can move it and the code never calls ``now()`` directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """Treat a naive timestamp read back from the database as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
