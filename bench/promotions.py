"""Price a 50-line cart with 5 stacked coupons: validation plus the discount calculation.

Run: ``.venv/bin/python bench/promotions.py [--calls N]``. Prints JSON with the median
(and p95) time per call in microseconds. Target: median under 1 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from tillpoint.promotions.calculation import calculate_discount
from tillpoint.promotions.discount_types import PricingLine
from tillpoint.promotions.rules import (
    BuyXGetY,
    CartFacts,
    CombinabilityRules,
    CouponRule,
    CouponType,
    select_applicable,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
RULES = CombinabilityRules(max_coupons_per_order=5, allow_multiple_percentage=True)


def cart() -> list[PricingLine]:
    return [
        PricingLine(f"item_{i:02d}", f"prod_{i % 20:02d}", None, 1 + i % 4, 499 + 137 * i)
        for i in range(50)
    ]


def coupons() -> list[CouponRule]:
    def make(code: str, kind: CouponType, value: int, **kw: object) -> CouponRule:
        return CouponRule(
            id=f"cpn_{code}",
            code=code,
            type=kind,
            value=value,
            starts_at=NOW - timedelta(days=1),
            ends_at=NOW + timedelta(days=1),
            combinable=True,
            **kw,  # type: ignore[arg-type]
        )

    return [
        make("B2G1", CouponType.buy_x_get_y, 10000, buy_x_get_y=BuyXGetY(2, 1)),
        make("TEN", CouponType.percentage, 1000),
        make("MUGS", CouponType.percentage, 1500, applicable_products=frozenset({"prod_03"})),
        make("FIVE", CouponType.fixed_amount, 500, excluded_products=frozenset({"prod_07"})),
        make("SHIP", CouponType.free_shipping, 0, maximum_discount=1000),
    ]


def price(lines: list[PricingLine], applied: list[CouponRule]) -> int:
    facts = CartFacts(lines, "USD", NOW)
    kept, dropped = select_applicable(applied, facts, RULES)
    assert not dropped
    return calculate_discount(lines, kept, RULES, shipping_amount=895).total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    lines, applied = cart(), coupons()
    total = price(lines, applied)
    for _ in range(100):  # warm up
        price(lines, applied)
    samples = []
    for _ in range(args.calls):
        started = time.perf_counter_ns()
        price(lines, applied)
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    print(
        json.dumps(
            {
                "benchmark": "promotions.price_cart",
                "lines": len(lines),
                "coupons": len(applied),
                "calls": args.calls,
                "discount_total": total,
                "median_us": round(statistics.median(samples) / 1000, 1),
                "p95_us": round(samples[int(len(samples) * 0.95)] / 1000, 1),
                "target_median_us": 1000,
            }
        )
    )


if __name__ == "__main__":
    main()
