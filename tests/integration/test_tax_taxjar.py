"""TaxJar at its HTTP boundary: a loopback server that speaks the TaxJar Sales Tax API
v2 as its public reference documents it (developers.taxjar.com/api/reference, API
version 2022-01-24 sent as ``x-api-version``): ``Authorization: Bearer <token>``;
``POST /v2/taxes`` (``tax.amount_to_collect``, ``tax.breakdown.line_items[]`` and
``tax.breakdown.shipping``), ``POST /v2/transactions/orders``, ``DELETE
/v2/transactions/orders/{transaction_id}``, ``POST /v2/transactions/refunds``; amounts in
decimal dollars; errors ``{"error": "Unauthorized", "detail": "...", "status": 401}``
(400, 401, 404, 422, 429, 500 as the reference lists). The tax it computes (New York,
4 % state + 4.875 % city, rounded per line, freight taxable) is this test's, not TaxJar's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.tax_loopback import HANG, Loopback, Seen, serve
from tests.tax_orders import lines_by_name, taxed_order
from tillpoint.audit.service import SYSTEM
from tillpoint.errors import ServiceUnavailable
from tillpoint.orders.public import RefundLine, RefundRequest, cancel_order, refund_order
from tillpoint.runtime import Runtime
from tillpoint.sweeper import JOBS
from tillpoint.tax.models import TaxTransactionJob
from tillpoint.tax.taxjar import TaxJarTaxProvider, priced
from tillpoint.tax.types import TaxableLine, TaxAddress, TaxRequest

TOKEN = "9e0cd62a22f451701f29c3bde214"
STATE, CITY = Decimal("0.04"), Decimal("0.04875")
CENT = Decimal("0.01")


def _error(status: int, error: str, detail: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "detail": detail, "status": status}


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


class TaxJar:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _refused(seen: Seen) -> tuple[int, Any] | None:
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "Unauthorized", f"Not authorized for route '{seen.method} "
                          f"{seen.path}'")  # fmt: skip
        return None

    async def taxes(self, seen: Seen, _: dict[str, str]) -> tuple[int, Any]:
        if refused := self._refused(seen):
            return refused
        body = seen.body or {}
        for required in ("to_country", "shipping"):
            if required not in body:
                return _error(400, "Bad Request", f"{required} is missing")
        if body["to_country"] == "US" and not body.get("to_zip"):
            return _error(400, "Bad Request", "to_zip is missing")
        rate = STATE + CITY
        items = []
        for item in body.get("line_items", []):
            taxable = Decimal(item["unit_price"]) * item["quantity"] - Decimal(item["discount"])
            if item.get("product_tax_code") == "99999":
                taxable = Decimal(0)
            items.append({"id": item["id"], "taxable_amount": taxable,
                          "tax_collectable": _cents(taxable * rate),
                          "combined_tax_rate": rate if taxable else Decimal(0),
                          "state_taxable_amount": taxable, "state_sales_tax_rate": STATE,
                          "state_amount": _cents(taxable * STATE),
                          "city_taxable_amount": taxable, "city_tax_rate": CITY,
                          "city_amount": _cents(taxable * CITY)})  # fmt: skip
        shipping = Decimal(body["shipping"])
        ship_tax = _cents(shipping * rate)
        taxable = sum((i["taxable_amount"] for i in items), Decimal(0)) + shipping
        collect = sum((i["tax_collectable"] for i in items), Decimal(0)) + ship_tax
        return 200, {"tax": {
            "order_total_amount": Decimal(body.get("amount", 0)) + shipping,
            "shipping": shipping, "taxable_amount": taxable, "amount_to_collect": collect,
            "rate": rate, "has_nexus": True, "freight_taxable": True,
            "tax_source": "destination",
            "jurisdictions": {"country": "US", "state": "NY", "county": "NEW YORK",
                              "city": "NEW YORK"},
            "breakdown": {
                "taxable_amount": taxable, "tax_collectable": collect, "combined_tax_rate": rate,
                "state_taxable_amount": taxable, "state_tax_rate": STATE,
                "state_tax_collectable": _cents(taxable * STATE),
                "county_taxable_amount": 0, "county_tax_rate": 0, "county_tax_collectable": 0,
                "city_taxable_amount": taxable, "city_tax_rate": CITY,
                "city_tax_collectable": _cents(taxable * CITY),
                "special_district_taxable_amount": 0, "special_tax_rate": 0,
                "special_district_tax_collectable": 0,
                "shipping": {"taxable_amount": shipping, "tax_collectable": ship_tax,
                             "combined_tax_rate": rate},
                "line_items": items,
            },
        }}  # fmt: skip

    def _invalid(self, body: dict[str, Any]) -> tuple[int, Any] | None:
        for required in ("transaction_id", "transaction_date", "to_country", "amount",
                         "shipping", "sales_tax"):  # fmt: skip
            if required not in body:
                return _error(400, "Bad Request", f"{required} is missing")
        return None

    async def create_order(self, seen: Seen, _: dict[str, str]) -> tuple[int, Any]:
        body = seen.body or {}
        if refused := self._refused(seen) or self._invalid(body):
            return refused
        if body["transaction_id"] in self.orders:
            return _error(422, "Unprocessable Entity", "Provided transaction_id already exists")
        self.orders[body["transaction_id"]] = body
        return 201, {"order": body}

    async def delete_order(self, seen: Seen, match: dict[str, str]) -> tuple[int, Any]:
        if refused := self._refused(seen):
            return refused
        order = self.orders.pop(match["id"], None)
        if order is None:
            return _error(404, "Not Found", "Resource can not be found")
        return 200, {"order": {"transaction_id": match["id"]}}

    async def create_refund(self, seen: Seen, _: dict[str, str]) -> tuple[int, Any]:
        body = seen.body or {}
        if refused := self._refused(seen) or self._invalid(body):
            return refused
        if body.get("transaction_reference_id") not in self.orders:
            return _error(404, "Not Found", "Order transaction_reference_id not found")
        if body["transaction_id"] in self.refunds:
            return _error(422, "Unprocessable Entity", "Provided transaction_id already exists")
        self.refunds[body["transaction_id"]] = body
        return 201, {"refund": body}


@pytest.fixture
async def taxjar() -> AsyncIterator[Loopback]:
    api = TaxJar()
    routes = [
        ("taxes", "POST", "/v2/taxes", api.taxes),
        ("orders", "POST", "/v2/transactions/orders", api.create_order),
        ("delete", "DELETE", "/v2/transactions/orders/{id}", api.delete_order),
        ("refunds", "POST", "/v2/transactions/refunds", api.create_refund),
    ]
    async with serve(routes) as box:
        yield box


@pytest.fixture
def settings_overrides(taxjar: Loopback) -> dict[str, Any]:
    return {
        "tax_provider": "taxjar", "tax_taxjar_api_token": TOKEN,
        "tax_taxjar_endpoint": taxjar.base, "tax_timeout_seconds": 0.5,
        "shipping_origin_postal_code": "07001",
    }  # fmt: skip


REQUEST = TaxRequest(
    "USD",
    TaxAddress("US", "NY", "10118", "New York"),
    (TaxableLine("item_a", "prod_a", 2, 5400), TaxableLine("item_b", "prod_b", 1, 1800, "exempt")),
    500,
)


# --- quotes -----------------------------------------------------------------------


async def test_quote_sends_decimal_dollars_and_lines_sum_exactly(
    rt: Runtime, taxjar: Loopback
) -> None:
    svc = rt.pricing.tax
    assert isinstance(svc.provider, TaxJarTaxProvider)
    result = await svc.calculate_tax(rt, REQUEST)
    # 54.00 * 8.875 % = 4.7925 -> 4.79; shipping 5.00 -> 0.44375 -> 0.44
    assert result.provider == "taxjar" and not result.inclusive
    assert result.line_taxes == (("item_a", 479), ("item_b", 0)) and result.shipping_tax == 44
    # the state and city shares (2.36 + 2.87 by TaxJar's own rounding) sum to the 5.23
    assert [(b.name, b.rate_ppm, b.tax_amount) for b in result.breakdown] == [
        ("state tax", 40_000, 236), ("city tax", 48_750, 287),
    ]  # fmt: skip
    assert sum(b.tax_amount for b in result.breakdown) == result.tax_amount == 523
    (sent,) = taxjar.seen
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["x-api-version"] == "2022-01-24"
    body = sent.body
    assert (body["to_country"], body["to_state"], body["to_zip"]) == ("US", "NY", "10118")
    assert body["from_zip"] == "07001"
    assert body["amount"] == Decimal("72.00") and body["shipping"] == Decimal("5.00")
    assert body["line_items"] == [
        {"id": "item_a", "quantity": 2, "unit_price": Decimal("27.00"),
         "discount": Decimal("0.00")},
        {"id": "item_b", "quantity": 1, "unit_price": Decimal("18.00"),
         "discount": Decimal("0.00"), "product_tax_code": "99999"},
    ]  # fmt: skip
    assert await svc.calculate_tax(rt, REQUEST) == result and len(taxjar.seen) == 1


def test_a_line_that_does_not_divide_by_its_quantity_is_priced_exactly() -> None:
    assert priced(1000, 3) == (334, 2)  # 3 x 3.34 - 0.02 == 10.00
    assert priced(5400, 2) == (2700, 0)


FAILURES = {
    "401 bad token": _error(401, "Unauthorized", "Not authorized for route 'POST /v2/taxes'"),
    "400 bad request": _error(400, "Bad Request", "to_zip 10118 is not used within to_state"),
    "422 unprocessable": _error(422, "Unprocessable Entity", "to_state is not valid"),
    "429 rate limited": _error(429, "Too Many Requests", "You've exceeded your rate limit"),
    "500 server error": _error(500, "Internal Server Error", "We had a problem"),
    "503 html from a proxy": (503, "<html>Service Unavailable</html>"),
    "200 of another shape": (200, {"rate": {"combined_rate": "0.08875"}}),
}


@pytest.mark.parametrize("failure", list(FAILURES), ids=list(FAILURES))
async def test_quote_failure_refuses_to_price_and_is_not_cached(
    rt: Runtime, taxjar: Loopback, failure: str
) -> None:
    status, body = FAILURES[failure]
    taxjar.script("taxes", status, body)
    with pytest.raises(ServiceUnavailable) as info:
        await rt.pricing.tax.calculate_tax(rt, REQUEST)
    assert info.value.code == "tax_unavailable" and info.value.status == 503
    assert info.value.details["provider"] == "taxjar"
    if status != 200:
        assert str(status) in info.value.details["reason"]
    result = await rt.pricing.tax.calculate_tax(rt, REQUEST)
    assert result.tax_amount == 523 and len(taxjar.seen) == 2


async def test_quote_timeout_refuses_to_price(rt: Runtime, taxjar: Loopback) -> None:
    taxjar.script("taxes", HANG)
    with pytest.raises(ServiceUnavailable) as info:
        await rt.pricing.tax.calculate_tax(rt, REQUEST)
    assert "timed out" in info.value.details["reason"]


# --- the record: order, delete, refund -----------------------------------------------


async def _jobs(rt: Runtime) -> list[TaxTransactionJob]:
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(TaxTransactionJob).order_by(TaxTransactionJob.rank, TaxTransactionJob.created_at)
        )
        return list(rows.all())


async def _sweep(rt: Runtime) -> int:
    return await JOBS["tax_transactions"](rt)


async def test_paid_order_is_recorded_with_the_tax_charged(rt: Runtime, taxjar: Loopback) -> None:
    order = await taxed_order(rt, user_id=None)
    assert taxjar.seen == []
    assert await _sweep(rt) == 1
    (sent,) = taxjar.calls("POST /v2/transactions/orders")
    body = sent.body
    assert body["transaction_id"] == order.number
    assert body["transaction_date"] == order.created_at.date().isoformat()
    assert (body["amount"], body["shipping"], body["sales_tax"]) == (
        Decimal("77.00"), Decimal("5.00"), Decimal("6.83"),
    )  # fmt: skip
    assert (body["to_street"], body["to_city"], body["to_zip"]) == (
        "350 5th Ave", "New York", "10118",
    )  # fmt: skip
    tea, mug = lines_by_name(order)["Tea"], lines_by_name(order)["Mug"]
    assert body["line_items"] == [
        {"id": tea.id, "quantity": 2, "unit_price": Decimal("27.00"),
         "discount": Decimal("0.00"), "sales_tax": Decimal("4.79"),
         "product_identifier": "TEA-1", "description": "Tea"},
        {"id": mug.id, "quantity": 1, "unit_price": Decimal("18.00"),
         "discount": Decimal("0.00"), "product_tax_code": "40030",
         "sales_tax": Decimal("1.60"), "product_identifier": "MUG-1", "description": "Mug"},
    ]  # fmt: skip
    (job,) = await _jobs(rt)
    assert job.status == "done"


async def test_cancelled_order_deletes_its_transaction(rt: Runtime, taxjar: Loopback) -> None:
    order = await taxed_order(rt)
    await cancel_order(rt, rt.gateway, order.id, None, SYSTEM)
    assert await _sweep(rt) == 2
    (deleted,) = taxjar.calls("DELETE")
    assert deleted.path == f"/v2/transactions/orders/{order.number}"
    assert deleted.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_partial_refund_is_a_refund_transaction_in_negative_dollars(
    rt: Runtime, taxjar: Loopback, clock: Any
) -> None:
    order = await taxed_order(rt)
    mug = lines_by_name(order)["Mug"]
    refund, _ = await refund_order(
        rt, rt.gateway, order.id, RefundRequest(None, "k1", lines=[RefundLine(mug.id, 1)]),
        SYSTEM,
    )  # fmt: skip
    assert refund is not None
    clock.advance(seconds=1)
    # the cancel after a refund refunds the rest (a delete would erase the first refund)
    rest = await cancel_order(rt, rt.gateway, order.id, None, SYSTEM)
    assert rest is not None
    assert await _sweep(rt) == 3
    first, second = taxjar.calls("POST /v2/transactions/refunds")
    assert first.body["transaction_id"] == refund.id
    assert first.body["transaction_reference_id"] == order.number
    assert (first.body["amount"], first.body["shipping"], first.body["sales_tax"]) == (
        Decimal("-18.00"), Decimal("0.00"), Decimal("-1.60"),
    )  # fmt: skip
    assert first.body["line_items"] == [
        {"id": mug.id, "quantity": 1, "unit_price": Decimal("-18.00"),
         "discount": Decimal("0.00"), "product_tax_code": "40030",
         "sales_tax": Decimal("-1.60"), "product_identifier": "MUG-1", "description": "Mug"},
    ]  # fmt: skip
    # the rest: Tea 54.00 + 4.79 tax, shipping 5.00 + 0.44
    assert (second.body["amount"], second.body["shipping"], second.body["sales_tax"]) == (
        Decimal("-59.00"), Decimal("-5.00"), Decimal("-5.23"),
    )  # fmt: skip
    assert taxjar.calls("DELETE") == []


@pytest.mark.parametrize(
    "answer",
    [
        _error(401, "Unauthorized", "Not authorized for route 'POST /v2/transactions/orders'"),
        _error(400, "Bad Request", "transaction_date is missing"),
        _error(429, "Too Many Requests", "You've exceeded your rate limit"),
        _error(500, "Internal Server Error", "We had a problem"),
        (HANG, None),
    ],
    ids=["401", "400", "429", "500", "timeout"],
)
async def test_record_failure_is_retried_and_never_touches_the_order(
    rt: Runtime, taxjar: Loopback, clock: Any, answer: tuple[int, Any]
) -> None:
    await taxed_order(rt)
    taxjar.script("orders", *answer)
    assert await _sweep(rt) == 0
    (job,) = await _jobs(rt)
    assert job.status == "pending" and job.attempts == 1
    assert job.last_error and (str(answer[0]) in job.last_error or answer[0] == HANG)
    clock.advance(seconds=31)
    assert await _sweep(rt) == 1
    (job,) = await _jobs(rt)
    assert job.status == "done" and job.attempts == 2


async def test_retries_after_a_lost_answer_are_not_recorded_twice(
    rt: Runtime, taxjar: Loopback
) -> None:
    order = await taxed_order(rt)
    sale_job = (await _jobs(rt))[0]
    from tillpoint.tax.transactions import TaxSale

    provider = TaxJarTaxProvider(TOKEN, endpoint=taxjar.base)
    sale = TaxSale.from_json(sale_job.payload)
    await provider.commit_sale(sale)  # landed, answer lost
    await cancel_order(rt, rt.gateway, order.id, None, SYSTEM)
    assert await _sweep(rt) == 2  # 422 "already exists" is success; the delete follows
    await provider.void_sale(sale)  # a delete retried after it landed: 404 is success
    assert [s.method for s in taxjar.seen] == ["POST", "POST", "DELETE", "DELETE"]
    assert [j.status for j in await _jobs(rt)] == ["done", "done"]


@pytest.mark.parametrize(
    ("route", "answer"),
    [
        ("delete", _error(500, "Internal Server Error", "We had a problem")),
        ("delete", _error(401, "Unauthorized", "Not authorized")),
        ("refunds", _error(422, "Unprocessable Entity", "to_zip is not valid")),
        ("refunds", (HANG, None)),
    ],
    ids=["delete-500", "delete-401", "refund-422", "refund-timeout"],
)
async def test_delete_and_refund_failures_are_retried(
    rt: Runtime, taxjar: Loopback, clock: Any, route: str, answer: tuple[int, Any]
) -> None:
    order = await taxed_order(rt)
    if route == "delete":
        await cancel_order(rt, rt.gateway, order.id, None, SYSTEM)
    else:
        await refund_order(rt, rt.gateway, order.id, RefundRequest(1000, "k"), SYSTEM)
    taxjar.script(route, *answer)
    assert await _sweep(rt) == 1
    follow = (await _jobs(rt))[1]
    assert follow.status == "pending" and follow.attempts == 1 and follow.last_error
    clock.advance(seconds=31)
    assert await _sweep(rt) == 1
    assert [j.status for j in await _jobs(rt)] == ["done", "done"]
    method = "DELETE" if route == "delete" else "POST /v2/transactions/refunds"
    assert len(taxjar.calls(method)) == 2
