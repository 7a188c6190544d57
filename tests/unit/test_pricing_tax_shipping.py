from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from tillpoint.pricing.totals import compute_totals, taxable_lines
from tillpoint.promotions.discount_types import (
    NO_DISCOUNTS,
    AppliedDiscount,
    DiscountResult,
    PricingLine,
)
from tillpoint.shipping.delivery import estimate_delivery
from tillpoint.shipping.table import TableRates
from tillpoint.shipping.types import ShippingRequest
from tillpoint.tax.manual import ManualTaxProvider
from tillpoint.tax.stripe_tax import percent_to_ppm
from tillpoint.tax.types import TaxAddress, TaxRequest

TAX = ManualTaxProvider()


def line(i: int, price: int, qty: int = 1, cat: str = "standard") -> PricingLine:
    return PricingLine(f"item_{i}", f"prod_{i}", None, qty, price, cat, 500)


def tax_for(
    lines: list[PricingLine],
    country: str,
    region: str = "",
    shipping: int = 0,
    discounts: DiscountResult = NO_DISCOUNTS,
) -> object:
    return TAX.compute(
        TaxRequest("USD", TaxAddress(country, region), taxable_lines(lines, discounts), shipping)
    )


def test_us_tax_is_added_on_top_per_line_half_up() -> None:
    lines = [line(1, 1999, 1), line(2, 1250, 3, "reduced")]
    tax = TAX.compute(
        TaxRequest("USD", TaxAddress("US", "NY"), taxable_lines(lines, NO_DISCOUNTS), 599)
    )
    # NY 4 %: 1999 -> 79.96 -> 80; groceries exempt; shipping taxed: 599 -> 23.96 -> 24
    assert dict(tax.line_taxes) == {"item_1": 80, "item_2": 0}
    assert tax.shipping_tax == 24 and not tax.inclusive
    totals = compute_totals(
        currency="USD",
        lines=lines,
        discounts=NO_DISCOUNTS,
        shipping_amount=599,
        shipping_method_id="us:ground",
        tax=tax,
    )
    assert (totals.subtotal, totals.shipping, totals.tax) == (1999 + 3750, 599, 104)
    assert totals.total == 1999 + 3750 + 599 + 104
    assert [b.tax_amount for b in totals.tax_breakdown] == [104]


def test_california_does_not_tax_shipping_and_unknown_states_are_untaxed() -> None:
    tax = TAX.compute(
        TaxRequest(
            "USD", TaxAddress("US", "CA"), taxable_lines([line(1, 10000)], NO_DISCOUNTS), 999
        )
    )
    assert tax.line_taxes == (("item_1", 725),) and tax.shipping_tax == 0
    none = TAX.compute(
        TaxRequest(
            "USD", TaxAddress("US", "OR"), taxable_lines([line(1, 10000)], NO_DISCOUNTS), 999
        )
    )
    assert none.tax_amount == 0 and none.breakdown == ()


def test_eu_prices_include_tax_and_the_tax_is_extracted() -> None:
    lines = [line(1, 11900), line(2, 1070, 1, "reduced")]
    tax = TAX.compute(TaxRequest("USD", TaxAddress("DE"), taxable_lines(lines, NO_DISCOUNTS), 1190))
    assert tax.inclusive
    assert dict(tax.line_taxes) == {"item_1": 1900, "item_2": 70}
    assert tax.shipping_tax == 190
    totals = compute_totals(
        currency="USD",
        lines=lines,
        discounts=NO_DISCOUNTS,
        shipping_amount=1190,
        shipping_method_id="eu_gb:standard",
        tax=tax,
    )
    # inclusive: the customer pays the sticker prices, the tax is inside
    assert totals.total == 11900 + 1070 + 1190
    assert totals.tax == 2160 and totals.tax_inclusive
    assert {(b.rate_ppm, b.tax_amount) for b in totals.tax_breakdown} == {
        (190_000, 2090),
        (70_000, 70),
    }


def test_canadian_gst_and_qst_are_separate_breakdown_rows_that_sum() -> None:
    tax = TAX.compute(
        TaxRequest(
            "USD", TaxAddress("CA", "QC"), taxable_lines([line(1, 10001)], NO_DISCOUNTS), 1000
        )
    )
    rows = {b.name: b.tax_amount for b in tax.breakdown}
    assert rows == {"GST": 500 + 50, "QST": 998 + 100}  # 9.975 % needs parts per million
    assert sum(rows.values()) == tax.tax_amount


def test_line_discounts_reduce_the_taxed_amount() -> None:
    disc = DiscountResult((AppliedDiscount("cpn_1", "TEN", "fixed", {"item_1": 1000}, 200),))
    lines = [line(1, 10000)]
    tax = TAX.compute(
        TaxRequest("USD", TaxAddress("US", "NY"), taxable_lines(lines, disc), 599 - 200)
    )
    totals = compute_totals(
        currency="USD",
        lines=lines,
        discounts=disc,
        shipping_amount=599,
        shipping_method_id="x",
        tax=tax,
    )
    assert totals.lines[0].net == 9000 and totals.lines[0].tax == 360
    assert totals.discount == 1200 and totals.shipping_line.net == 399
    assert totals.total == 10000 - 1200 + 599 + 360 + 16
    assert totals.promotions[0]["code"] == "TEN"


@given(
    st.lists(
        st.tuples(
            st.integers(1, 500_000),
            st.integers(1, 50),
            st.sampled_from(["standard", "reduced", "exempt"]),
            st.integers(0, 100),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(0, 10_000),
    st.sampled_from([("US", "NY"), ("US", "CA"), ("DE", ""), ("CA", "QC"), ("JP", ""), ("BR", "")]),
    st.integers(0, 100),
)
def test_total_equals_the_sum_of_the_line_breakdown_exactly(
    spec: list[tuple[int, int, str, int]], shipping: int, where: tuple[str, str], ship_pct: int
) -> None:
    lines = [line(i, price, qty, cat) for i, (price, qty, cat, _) in enumerate(spec)]
    disc = DiscountResult(
        (
            AppliedDiscount(
                "cpn",
                "C",
                "pct",
                {
                    ln.line_id: ln.amount * pct // 100
                    for ln, (*_, pct) in zip(lines, spec, strict=True)
                },
                shipping * ship_pct // 100,
            ),
        )
    )
    tax = TAX.compute(
        TaxRequest(
            "USD",
            TaxAddress(*where),
            taxable_lines(lines, disc),
            shipping - min(disc.shipping_discount, shipping),
        )
    )
    t = compute_totals(
        currency="USD",
        lines=lines,
        discounts=disc,
        shipping_amount=shipping,
        shipping_method_id="m",
        tax=tax,
    )
    assert t.total == sum(x.total for x in t.lines) + t.shipping_line.total
    assert t.total == t.subtotal - t.discount + t.shipping + (0 if t.tax_inclusive else t.tax)
    assert t.tax == sum(b.tax_amount for b in t.tax_breakdown) == tax.tax_amount
    assert t.discount == disc.total
    assert all(isinstance(v, int) for v in (t.total, t.tax, t.subtotal))


# --- shipping ------------------------------------------------------------------------

TABLE = TableRates()
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday morning


def req(country: str, region: str = "", grams: int = 800, subtotal: int = 3000) -> ShippingRequest:
    return ShippingRequest("USD", country, region, "", grams, subtotal)


def test_us_zone_methods_weight_bands_and_free_threshold() -> None:
    opts = {o.id: o for o in TABLE.options(req("US", "NY"), NOW, 14)}
    assert set(opts) == {"us:ground", "us:two_day", "us:next_day"}
    assert opts["us:ground"].cost == 599 and opts["us:ground"].carrier == "UPS"
    assert opts["us:next_day"].tracking_available and opts["us:next_day"].service_type == "next_day"
    heavy = {o.id: o.cost for o in TABLE.options(req("US", "NY", grams=22_500), NOW, 14)}
    assert heavy["us:ground"] == 1999 + 3 * 150  # 2.5 kg over the last band: 3 started kg
    free = {o.id: o.cost for o in TABLE.options(req("US", "NY", subtotal=7500), NOW, 14)}
    assert free["us:ground"] == 0 and free["us:two_day"] == 1499


def test_zones_by_country_and_region() -> None:
    assert {o.id for o in TABLE.options(req("US", "HI"), NOW, 14)} == {
        "us_remote:ground",
        "us_remote:two_day",
    }
    assert {o.id for o in TABLE.options(req("DE"), NOW, 14)} == {"eu_gb:standard", "eu_gb:express"}
    ca = {o.id: o.cost for o in TABLE.options(req("CA", "ON", subtotal=6000), NOW, 14)}
    assert ca["ca:standard"] == 1999  # subtotal band 50..150
    assert {o.id for o in TABLE.options(req("JP"), NOW, 14)} == {"world:standard", "world:express"}
    assert TABLE.options(ShippingRequest("EUR", "DE", "", "", 1, 1), NOW, 14) == []


def test_delivery_estimates_skip_weekends_and_respect_the_cutoff() -> None:
    # Thursday before cut-off ships today: 1 business day -> Friday; 3 -> Tuesday.
    assert estimate_delivery(NOW, 1, 3, 14).earliest == date(2026, 11, 27)
    assert estimate_delivery(NOW, 1, 3, 14).latest == date(2026, 12, 1)
    # After cut-off ships Friday: next day -> Monday.
    late = NOW.replace(hour=15)
    assert estimate_delivery(late, 1, 1, 14).earliest == date(2026, 11, 30)
    # Saturday ships Monday: 2 days -> Wednesday.
    saturday = datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert estimate_delivery(saturday, 2, 2, 14).latest == date(2026, 12, 2)


def test_stripe_percentages_become_exact_parts_per_million() -> None:
    assert percent_to_ppm("8.875") == 88_750
    assert percent_to_ppm("19") == 190_000
    assert percent_to_ppm("9.975") == 99_750
