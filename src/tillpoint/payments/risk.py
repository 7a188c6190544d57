"""Radar-style risk: hold a payment for review when its risk level is above the threshold."""

from __future__ import annotations

from tillpoint.config import RiskLevel

_ORDER = {RiskLevel.normal: 0, RiskLevel.elevated: 1, RiskLevel.highest: 2}


def held_for_review(risk_level: str | None, threshold: RiskLevel) -> bool:
    """True if ``risk_level`` (Stripe's ``outcome.risk_level``) is above ``threshold``.

    ``not_assessed``, ``unknown`` or no level at all never hold a payment: there is
    nothing to judge, and Stripe itself blocks what it is sure of.
    """
    try:
        level = RiskLevel(risk_level) if risk_level else None
    except ValueError:
        return False
    return level is not None and _ORDER[level] > _ORDER[threshold]
