"""Failed webhook signatures (Stripe's, the inventory feed's), audited without letting a
flood of forgeries write a row each: one row per webhook, source address and
``SIGNATURE_AUDIT_SECONDS``, which says how many failures it left out since the last row
(``left_out``), so the rows still account for every failure. Every one is still refused.
"""

from __future__ import annotations

from typing import Any

from tillpoint.audit.events import SecurityEventType
from tillpoint.audit.service import Actor, log_security_event
from tillpoint.runtime import Runtime
from tillpoint.security.ratelimit import RateLimiter

# A failed signature writes at most one audit row per source address in this many seconds.
SIGNATURE_AUDIT_SECONDS = 60


async def audit_signature_failure(
    rt: Runtime, limiter: RateLimiter | None, webhook: str, reason: str, source_ip: str | None
) -> None:
    """``webhook_signature_failed``, bounded per source address (see the module docstring);
    every failure is audited when there is no limiter to bound them with (no app)."""
    metadata: dict[str, Any] = {"webhook": webhook, "reason": reason}
    if limiter is not None:
        key = source_ip or "unknown"
        left_out = await limiter.audit_gate(f"{webhook}-signature", key, SIGNATURE_AUDIT_SECONDS)
        if left_out is None:
            return
        if left_out:
            metadata["left_out"] = left_out  # failures since the last row, not written
    await log_security_event(
        rt,
        SecurityEventType.webhook_signature_failed,
        actor=Actor(ip_address=source_ip),
        metadata=metadata,
    )
