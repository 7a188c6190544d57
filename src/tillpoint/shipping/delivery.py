"""Delivery-date estimates in business days (pure).

An order placed before the cut-off hour (UTC) on a business day ships that day;
otherwise it ships on the next business day. Transit counts business days only:
Saturdays and Sundays are skipped.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from tillpoint.shipping.types import DeliveryEstimate


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def add_business_days(start: date, days: int) -> date:
    """The business day ``days`` business days after ``start``."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if is_business_day(current):
            left -= 1
    return current


def ship_date(now: datetime, cutoff_hour: int) -> date:
    """The day a parcel ordered at ``now`` leaves the warehouse."""
    today = now.date()
    if is_business_day(today) and now.hour < cutoff_hour:
        return today
    return add_business_days(today, 1)


def estimate_delivery(
    now: datetime, min_days: int, max_days: int, cutoff_hour: int
) -> DeliveryEstimate:
    """The seed's estimateDeliveryDate: earliest and latest arrival for a transit range."""
    shipped = ship_date(now, cutoff_hour)
    return DeliveryEstimate(
        add_business_days(shipped, min_days), add_business_days(shipped, max_days)
    )
