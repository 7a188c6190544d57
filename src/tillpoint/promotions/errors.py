"""Errors of the promotions feature, each with a stable code (mapped to HTTP in web/errors.py)."""

from __future__ import annotations

from collections.abc import Sequence

from tillpoint.errors import Conflict, FieldError, InvalidInput, TillpointError
from tillpoint.promotions.rules import CONFLICT_REASONS, Problem


def coupon_rejected(problems: Sequence[Problem]) -> TillpointError:
    """The error for a coupon that cannot be applied: 409 for a clash with the applied
    coupons, 422 otherwise; the code is ``coupon_<reason>`` of the first problem."""
    errors = [p for p in problems if p.reason not in CONFLICT_REASONS]
    conflicts = [p for p in problems if p.reason in CONFLICT_REASONS]
    first = (errors or conflicts)[0]
    kind: type[TillpointError] = InvalidInput if errors else Conflict
    return kind(
        first.message,
        code=f"coupon_{first.reason.value}",
        fields=[FieldError(("code",), p.reason.value, p.message) for p in problems],
        details={
            "errors": [p.as_dict() for p in errors],
            "conflicts": [p.as_dict() for p in conflicts],
        },
    )


class CouponUnavailable(Conflict):
    """Claiming usage failed: a coupon ran out (or the customer used it up) meanwhile.

    ``refused`` maps each refused coupon id to its reason code; nothing was claimed.
    """

    code = "coupon_unavailable"

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__(
            "A coupon on this order is no longer available.",
            details={"coupons": [{"coupon_id": c, "code": r} for c, r in refused.items()]},
        )
        self.refused = refused
