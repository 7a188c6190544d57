"""Price a 50-line cart with shipping and tax, many times; print the median per call as JSON.

    .venv/bin/python -m bench.pricing [--calls 2000] [--country US --region NY]

One call is the whole pricing pipeline on in-memory data: discounts (the promotions
seam's answer), the table-rate shipping cost, the manual tax calculation (no cache:
the worst case) and the OrderTotal with its per-line breakdown. Target: < 1 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime

from tillpoint.addresses.schemas import Address
from tillpoint.pricing.service import shipping_request
from tillpoint.pricing.totals import OrderTotal, compute_totals, shipping_discount, taxable_lines
from tillpoint.promotions.discount_types import AppliedDiscount, DiscountResult, PricingLine
from tillpoint.shipping.service import ShippingCalculationService
from tillpoint.tax.manual import ManualTaxProvider
from tillpoint.tax.types import TaxAddress, TaxRequest

CATEGORIES = ("standard", "reduced", "exempt")


def cart(n: int) -> tuple[PricingLine, ...]:
    return tuple(
        PricingLine(
            line_id=f"item_{i:022d}",
            product_id=f"prod_{i:022d}",
            variant_id=None,
            quantity=1 + i % 4,
            unit_price=499 + 137 * i,
            tax_category=CATEGORIES[i % 3],
            weight_grams=120 + 10 * i,
        )
        for i in range(n)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--country", default="US")
    parser.add_argument("--region", default="NY")
    parser.add_argument("--postal-code", default="10118")
    args = parser.parse_args()

    lines = cart(args.lines)
    address = Address(
        first_name="A",
        last_name="B",
        street1="1 Main St",
        city="C",
        state=args.region,
        zip_code=args.postal_code,
        country=args.country,
    )
    # 10 % off every line and 1.00 off shipping, as a coupon would
    discounts = DiscountResult(
        (
            AppliedDiscount(
                "cpn_x", "TEN", "percentage", {x.line_id: x.amount // 10 for x in lines}, 100
            ),
        )
    )
    shipping = ShippingCalculationService()
    tax = ManualTaxProvider()
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    tax_address = TaxAddress(address.country, address.state, address.zip_code, address.city)
    selected = shipping.table_options(shipping_request("USD", lines, address), now)[1]

    def price_once() -> OrderTotal:
        request = shipping_request("USD", lines, address)
        ship = shipping.calculate_shipping_cost(request, selected, now)
        taxed = tax.compute(
            TaxRequest(
                "USD",
                tax_address,
                taxable_lines(lines, discounts),
                ship - shipping_discount(ship, discounts),
            )
        )
        return compute_totals(
            currency="USD",
            lines=lines,
            discounts=discounts,
            shipping_amount=ship,
            shipping_method_id=selected.id,
            tax=taxed,
        )

    for _ in range(200):  # warm up
        price_once()
    samples = []
    for _ in range(args.calls):
        start = time.perf_counter_ns()
        result = price_once()
        samples.append(time.perf_counter_ns() - start)
    assert result.total == sum(x.total for x in result.lines) + result.shipping_line.total
    samples.sort()
    print(
        json.dumps(
            {
                "benchmark": "pricing",
                "lines": args.lines,
                "calls": args.calls,
                "destination": f"{args.country}-{args.region}",
                "median_ms": round(statistics.median(samples) / 1e6, 4),
                "p95_ms": round(samples[int(len(samples) * 0.95)] / 1e6, 4),
                "min_ms": round(samples[0] / 1e6, 4),
                "total": result.total,
                "tax": result.tax,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
