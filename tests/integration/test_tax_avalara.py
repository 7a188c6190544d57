"""Avalara AvaTax at its HTTP boundary: a loopback server that speaks AvaTax REST API v2
as its public reference documents it (developer.avalara.com, "AvaTax REST API v2":
CreateTransaction, VoidTransaction, RefundTransaction; ErrorResult bodies).

What the server checks and answers, as documented: HTTP Basic auth with account id and
license key (401 ``AuthenticationException`` otherwise); ``POST /api/v2/transactions/
create`` taking a CreateTransactionModel (``type`` SalesOrder / SalesInvoice, ``lines``
with ``number``, ``amount``, ``taxCode``, optional ``taxOverride``) and answering a
TransactionModel (``lines[].lineNumber``/``tax``, ``totalTax``, ``summary``); ``POST
/api/v2/companies/{companyCode}/transactions/{code}/void`` with ``{"code": "DocVoided"}``;
``POST .../{code}/refund`` with a RefundTransactionModel. Errors answer ``{"error":
{"code", "message", "details": [...]}}``. The tax it computes (New York, 4 % state +
4.875 % city, rounded per line) is this test's, not Avalara's.

Assumed where the reference is silent: a second create with a committed document's code
answers 400 ``DocumentCodeConflict``; 429 carries the same error body.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.tax_loopback import HANG, Loopback, Seen, serve
from tests.tax_orders import TOTAL, lines_by_name, taxed_order
from tillpoint.audit.service import SYSTEM
from tillpoint.errors import ServiceUnavailable
from tillpoint.orders.public import RefundLine, RefundRequest, cancel_order, refund_order
from tillpoint.runtime import Runtime
from tillpoint.sweeper import JOBS
from tillpoint.tax.avalara import AvalaraTaxProvider
from tillpoint.tax.models import TaxTransactionJob
from tillpoint.tax.service import TaxCalculationService
from tillpoint.tax.types import TaxableLine, TaxAddress, TaxRequest

ACCOUNT, LICENSE, COMPANY = "2000134479", "4A2B9C5D1E8F7A3B", "TILLSHOP"
RATES = (("NY STATE TAX", "State", Decimal("0.04")), ("NY CITY TAX", "City", Decimal("0.04875")))
CENT = Decimal("0.01")


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "error": {
            "code": code, "message": message, "target": "HttpRequest",
            "details": [{"code": code, "number": 0, "message": message,
                         "description": message, "faultCode": "Client", "severity": "Error"}],
        }
    }  # fmt: skip


def _authorized(seen: Seen) -> bool:
    expected = base64.b64encode(f"{ACCOUNT}:{LICENSE}".encode()).decode()
    return seen.headers.get("Authorization") == f"Basic {expected}"


class AvaTax:
    """The documents the server keeps, by code."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    def _line(self, line: dict[str, Any]) -> dict[str, Any]:
        amount = Decimal(line["amount"])
        rates = () if line.get("taxCode") == "NT" else RATES
        details = [
            {"jurisName": "NEW YORK", "jurisType": kind, "taxName": name, "rate": rate,
             "taxableAmount": amount, "tax": (amount * rate).quantize(CENT, ROUND_HALF_UP)}
            for name, kind, rate in rates
        ]  # fmt: skip
        tax = sum((d["tax"] for d in details), Decimal(0))
        override = line.get("taxOverride")
        if override and override.get("type") == "TaxAmount":
            tax = Decimal(override["taxAmount"])
        return {"lineNumber": line["number"], "itemCode": line.get("itemCode", ""),
                "lineAmount": amount, "taxableAmount": amount if rates else Decimal(0),
                "tax": tax, "details": details}  # fmt: skip

    async def create(self, seen: Seen, _: dict[str, str]) -> tuple[int, Any]:
        if not _authorized(seen):
            return _error(401, "AuthenticationException", "Authentication failed.")
        body = seen.body or {}
        if not body.get("lines") or not body.get("date") or not body.get("customerCode"):
            return _error(400, "ValueRequiredError", "A value is required.")
        code = body.get("code") or "7b0f6e34-temporary"
        if body["type"] == "SalesInvoice" and code in self.documents:
            return _error(400, "DocumentCodeConflict", f"Document {code} already exists.")
        lines = [self._line(line) for line in body["lines"]]
        summary = [
            {"country": "US", "region": "NY", "jurisType": kind, "jurisName": "NEW YORK",
             "taxName": name, "rate": rate,
             "taxable": sum((ln["lineAmount"] for ln in lines if ln["details"]), Decimal(0)),
             "tax": sum((d["tax"] for ln in lines for d in ln["details"]
                         if d["taxName"] == name), Decimal(0))}
            for name, kind, rate in RATES
        ]  # fmt: skip
        doc = {
            "id": 1000 + len(self.documents), "code": code, "companyId": 7, "type": body["type"],
            "date": body["date"], "currencyCode": body.get("currencyCode", "USD"),
            "status": "Committed" if body.get("commit") else "Temporary",
            "totalAmount": sum((ln["lineAmount"] for ln in lines), Decimal(0)),
            "totalTax": sum((ln["tax"] for ln in lines), Decimal(0)),
            "lines": lines, "summary": summary,
        }  # fmt: skip
        if body["type"] == "SalesInvoice":
            self.documents[code] = doc
        return 201, doc

    async def void(self, seen: Seen, match: dict[str, str]) -> tuple[int, Any]:
        if not _authorized(seen):
            return _error(401, "AuthenticationException", "Authentication failed.")
        doc = self.documents.get(match["code"])
        if doc is None or match["company"] != COMPANY:
            return _error(404, "EntityNotFoundError", "Transaction not found.")
        if (seen.body or {}).get("code") not in ("DocVoided", "DocDeleted", "PostFailed"):
            return _error(400, "InvalidEnumValue", "code is not a void reason.")
        doc["status"] = "Cancelled"
        return 200, doc

    async def refund(self, seen: Seen, match: dict[str, str]) -> tuple[int, Any]:
        if not _authorized(seen):
            return _error(401, "AuthenticationException", "Authentication failed.")
        doc = self.documents.get(match["code"])
        if doc is None:
            return _error(404, "EntityNotFoundError", "Transaction not found.")
        body = seen.body or {}
        if body.get("refundType") not in ("Full", "Partial", "Percentage", "TaxOnly"):
            return _error(400, "ValueRequiredError", "refundType is required.")
        code = body["refundTransactionCode"]
        if code in self.documents:
            return _error(400, "DocumentCodeConflict", f"Document {code} already exists.")
        self.documents[code] = {"code": code, "type": "ReturnInvoice", "status": "Committed"}
        return 200, self.documents[code]


@pytest.fixture
async def avatax() -> AsyncIterator[Loopback]:
    api = AvaTax()
    routes = [
        ("create", "POST", "/api/v2/transactions/create", api.create),
        ("void", "POST", "/api/v2/companies/{company}/transactions/{code}/void", api.void),
        ("refund", "POST", "/api/v2/companies/{company}/transactions/{code}/refund", api.refund),
    ]
    async with serve(routes) as box:
        yield box


@pytest.fixture
def settings_overrides(avatax: Loopback) -> dict[str, Any]:
    return {
        "tax_provider": "avalara", "tax_avalara_account_id": ACCOUNT,
        "tax_avalara_license_key": LICENSE, "tax_avalara_company_code": COMPANY,
        "tax_avalara_endpoint": avatax.base, "tax_timeout_seconds": 0.5,
        "shipping_origin_postal_code": "07001",
    }  # fmt: skip


REQUEST = TaxRequest(
    "USD",
    TaxAddress("US", "NY", "10118", "New York"),
    (TaxableLine("item_a", "prod_a", 2, 5400), TaxableLine("item_b", "prod_b", 1, 1800, "exempt")),
    500,
)


# --- quotes -----------------------------------------------------------------------


async def test_quote_is_a_sales_order_and_lines_sum_exactly(rt: Runtime, avatax: Loopback) -> None:
    svc = rt.pricing.tax
    assert isinstance(svc.provider, AvalaraTaxProvider)
    result = await svc.calculate_tax(rt, REQUEST)
    # 5400 * 8.875 % = 479.25 -> 216.00 + 263.25 per jurisdiction; shipping 44.375 -> 44.38
    assert result.provider == "avalara" and not result.inclusive
    assert result.line_taxes == (("item_a", 479), ("item_b", 0)) and result.shipping_tax == 44
    assert result.tax_amount == 523 == sum(b.tax_amount for b in result.breakdown)
    assert [(b.jurisdiction, b.name, b.rate_ppm) for b in result.breakdown] == [
        ("US-NY", "NY STATE TAX", 40_000), ("US-NY", "NY CITY TAX", 48_750),
    ]  # fmt: skip
    (sent,) = avatax.calls("POST /api/v2/transactions/create")
    assert _authorized(sent)
    body = sent.body
    assert body["type"] == "SalesOrder" and body["commit"] is False
    assert body["companyCode"] == COMPANY and body["currencyCode"] == "USD"
    assert body["addresses"]["shipTo"] == {
        "country": "US", "region": "NY", "postalCode": "10118", "city": "New York",
    }  # fmt: skip
    assert body["addresses"]["shipFrom"] == {"country": "US", "postalCode": "07001"}
    assert [(ln["number"], ln["amount"], ln["taxCode"]) for ln in body["lines"]] == [
        ("item_a", Decimal("54.00"), "P0000000"), ("item_b", Decimal("18.00"), "NT"),
        ("shipping", Decimal("5.00"), "FR020100"),
    ]  # fmt: skip
    # cached by its inputs: the same request again does not reach AvaTax
    assert await svc.calculate_tax(rt, REQUEST) == result and len(avatax.seen) == 1


async def test_quote_spreads_sub_cent_line_taxes_so_lines_sum_to_the_total(
    rt: Runtime, avatax: Loopback
) -> None:
    doc = {
        "code": "t", "type": "SalesOrder", "totalTax": Decimal("1.00"),
        "lines": [{"lineNumber": n, "tax": Decimal("0.333")} for n in ("a", "b", "c")],
        "summary": [],
    }  # fmt: skip
    avatax.script("create", 201, doc)
    request = TaxRequest(
        "USD", TaxAddress("US", "NY"),
        tuple(TaxableLine(n, "p", 1, 1000) for n in ("a", "b", "c")),
    )  # fmt: skip
    result = await rt.pricing.tax.calculate_tax(rt, request)
    assert result.line_taxes == (("a", 34), ("b", 33), ("c", 33)) and result.tax_amount == 100


FAILURES = {
    "401 wrong license key": _error(401, "AuthenticationException", "Authentication failed."),
    "400 validation": _error(400, "InvalidAddress", "The address is not deliverable."),
    "429 rate limited": _error(429, "RateLimitExceeded", "Too many requests."),
    "500 server error": _error(500, "ServerConfiguration", "Internal error."),
    "503 html from a proxy": (503, "<html>Service Unavailable</html>"),
    "200 of another shape": (201, {"id": 1, "lines": [{"lineNumber": "x", "tax": 1}]}),
}


@pytest.mark.parametrize("failure", list(FAILURES), ids=list(FAILURES))
async def test_quote_failure_refuses_to_price_and_is_not_cached(
    rt: Runtime, avatax: Loopback, failure: str
) -> None:
    status, body = FAILURES[failure]
    avatax.script("create", status, body)
    with pytest.raises(ServiceUnavailable) as info:
        await rt.pricing.tax.calculate_tax(rt, REQUEST)
    assert info.value.code == "tax_unavailable" and info.value.status == 503
    assert info.value.details["provider"] == "avalara"
    if status != 201:
        assert str(status) in info.value.details["reason"]
    # nothing cached: the next checkout asks again, and prices once AvaTax answers
    result = await rt.pricing.tax.calculate_tax(rt, REQUEST)
    assert result.tax_amount == 523 and len(avatax.seen) == 2


async def test_quote_timeout_refuses_to_price(rt: Runtime, avatax: Loopback) -> None:
    avatax.script("create", HANG)
    with pytest.raises(ServiceUnavailable) as info:
        await rt.pricing.tax.calculate_tax(rt, REQUEST)
    assert info.value.code == "tax_unavailable"
    assert "timed out" in info.value.details["reason"]


async def test_quote_with_a_wrong_license_key_is_refused_by_avatax(
    rt: Runtime, avatax: Loopback
) -> None:
    provider = AvalaraTaxProvider(ACCOUNT, "wrong", COMPANY, endpoint=avatax.base)
    with pytest.raises(ServiceUnavailable) as info:
        await TaxCalculationService(provider).calculate_tax(rt, REQUEST)
    assert "401 AuthenticationException" in info.value.details["reason"]


# --- the record: commit, void, refund ---------------------------------------------------


async def _jobs(rt: Runtime) -> list[TaxTransactionJob]:
    from sqlalchemy import select

    async with rt.db.transaction() as s:
        rows = await s.scalars(select(TaxTransactionJob).order_by(TaxTransactionJob.rank))
        return list(rows.all())


async def _sweep(rt: Runtime) -> int:
    return await JOBS["tax_transactions"](rt)


async def test_paid_order_is_committed_as_a_sales_invoice_with_the_tax_charged(
    rt: Runtime, avatax: Loopback
) -> None:
    order = await taxed_order(rt, user_id=None)
    assert avatax.seen == []  # nothing sent while the order commits
    assert await _sweep(rt) == 1
    (sent,) = avatax.calls("POST /api/v2/transactions/create")
    body = sent.body
    assert body["type"] == "SalesInvoice" and body["commit"] is True
    assert body["code"] == order.number and body["purchaseOrderNo"] == order.id
    assert body["customerCode"] == "ada@example.com"
    assert body["addresses"]["shipTo"]["line1"] == "350 5th Ave"
    by_name = lines_by_name(order)
    assert [
        (ln["number"], ln["amount"], ln["taxOverride"]["taxAmount"], ln["taxCode"])
        for ln in body["lines"]
    ] == [
        (by_name["Tea"].id, Decimal("54.00"), Decimal("4.79"), "P0000000"),
        (by_name["Mug"].id, Decimal("18.00"), Decimal("1.60"), "PF050001"),
        ("shipping", Decimal("5.00"), Decimal("0.44"), "FR020100"),
    ]
    assert all(ln["taxOverride"]["type"] == "TaxAmount" for ln in body["lines"])
    (job,) = await _jobs(rt)
    assert job.status == "done" and job.attempts == 1
    assert await _sweep(rt) == 0  # done once


async def test_cancelled_order_voids_its_transaction(rt: Runtime, avatax: Loopback) -> None:
    order = await taxed_order(rt)
    await cancel_order(rt, rt.gateway, order.id, "customer asked", SYSTEM)
    assert await _sweep(rt) == 2  # the sale first, then its void
    (void,) = avatax.calls("POST /api/v2/companies/")
    assert void.path == f"/api/v2/companies/{COMPANY}/transactions/{order.number}/void"
    assert void.body == {"code": "DocVoided"} and _authorized(void)
    assert [j.kind for j in await _jobs(rt)] == ["sale", "void"]


async def test_refunds_by_whole_lines_and_by_amount_in_their_order(
    rt: Runtime, avatax: Loopback, clock: Any
) -> None:
    order = await taxed_order(rt)
    mug = lines_by_name(order)["Mug"]
    await refund_order(
        rt, rt.gateway, order.id, RefundRequest(None, "k1", lines=[RefundLine(mug.id, 1)]),
        SYSTEM,
    )  # fmt: skip
    clock.advance(seconds=1)
    await refund_order(rt, rt.gateway, order.id, RefundRequest(1000, "k2"), SYSTEM)
    assert await _sweep(rt) == 3
    refunds = avatax.calls(f"POST /api/v2/companies/{COMPANY}/transactions/{order.number}/refund")
    assert [r.body["refundType"] for r in refunds] == ["Partial", "Percentage"]
    assert refunds[0].body["refundLines"] == [mug.id]
    # 10.00 of the 83.83 the customer paid
    assert refunds[1].body["refundPercentage"] == Decimal("11.9289")
    jobs = await _jobs(rt)
    assert [j.kind for j in jobs] == ["sale", "refund", "refund"]
    assert {r.body["refundTransactionCode"] for r in refunds} == {
        j.dedupe_key.removeprefix("refund:") for j in jobs if j.kind == "refund"
    }


async def test_full_refund_is_a_full_refund_transaction(rt: Runtime, avatax: Loopback) -> None:
    order = await taxed_order(rt)
    refund, _ = await refund_order(rt, rt.gateway, order.id, RefundRequest(None, "all"), SYSTEM)
    assert refund is not None and refund.amount == TOTAL
    assert await _sweep(rt) == 2
    (sent,) = avatax.calls("POST /api/v2/companies/")
    assert sent.body["refundType"] == "Full" and sent.body["refundTransactionCode"] == refund.id


@pytest.mark.parametrize(
    "answer",
    [
        _error(401, "AuthenticationException", "Authentication failed."),
        _error(429, "RateLimitExceeded", "Too many requests."),
        _error(500, "ServerConfiguration", "Internal error."),
        (HANG, None),
    ],
    ids=["401", "429", "500", "timeout"],
)
async def test_commit_failure_is_retried_later_and_never_touches_the_order(
    rt: Runtime, avatax: Loopback, clock: Any, answer: tuple[int, Any]
) -> None:
    order = await taxed_order(rt)
    avatax.script("create", *answer)
    assert await _sweep(rt) == 0
    (job,) = await _jobs(rt)
    assert job.status == "pending" and job.attempts == 1 and job.last_error
    assert job.available_at > clock.now()
    assert await _sweep(rt) == 0 and len(avatax.seen) == 1  # not due yet
    clock.advance(seconds=31)
    assert await _sweep(rt) == 1
    (job,) = await _jobs(rt)
    assert job.status == "done" and job.attempts == 2 and job.last_error is None
    async with rt.db.transaction() as s:
        from tillpoint.orders.models import Order

        again = await s.get(Order, order.id)
        assert again is not None and again.status == "paid"


async def test_a_void_waits_for_its_sale_and_a_lost_answer_is_not_recorded_twice(
    rt: Runtime, avatax: Loopback, clock: Any
) -> None:
    order = await taxed_order(rt)
    await cancel_order(rt, rt.gateway, order.id, None, SYSTEM)
    avatax.script("create", *_error(503, "ServiceUnavailable", "Try later."))
    assert await _sweep(rt) == 0
    assert avatax.calls("POST /api/v2/companies/") == []  # no void before the sale
    # The sale lands at AvaTax but its answer is lost: the retry finds the code taken.
    await AvalaraTaxProvider(ACCOUNT, LICENSE, COMPANY, endpoint=avatax.base).commit_sale(
        _sale_of_jobs(await _jobs(rt))
    )
    clock.advance(minutes=5)
    assert await _sweep(rt) == 2
    assert [j.status for j in await _jobs(rt)] == ["done", "done"]


def _sale_of_jobs(jobs: list[TaxTransactionJob]) -> Any:
    from tillpoint.tax.transactions import TaxSale

    return TaxSale.from_json(next(j for j in jobs if j.kind == "sale").payload)


async def test_a_job_that_keeps_failing_gives_up_loudly(
    rt: Runtime, avatax: Loopback, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tillpoint.tax.recording import MAX_ATTEMPTS

    await taxed_order(rt)
    for _ in range(MAX_ATTEMPTS):
        avatax.script("create", *_error(400, "InvalidAddress", "Address not found."))
    with caplog.at_level(logging.WARNING, logger="tillpoint.tax.recording"):
        for _ in range(MAX_ATTEMPTS):
            await _sweep(rt)
            clock.advance(hours=2)
    (job,) = await _jobs(rt)
    assert job.status == "failed" and job.attempts == MAX_ATTEMPTS
    assert "400 InvalidAddress" in (job.last_error or "")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "giving up" in errors[0].getMessage()
    assert await _sweep(rt) == 0 and len(avatax.seen) == MAX_ATTEMPTS


def test_avalara_without_its_keys_does_not_start(settings: Any) -> None:
    from tillpoint.tax.service import build_tax_service

    with pytest.raises(ValueError, match="TILLPOINT_TAX_AVALARA_LICENSE_KEY"):
        build_tax_service(settings.model_copy(update={"tax_avalara_license_key": None}))
    with pytest.raises(ValueError, match="TILLPOINT_TAX_AVALARA_ACCOUNT_ID"):
        build_tax_service(settings.model_copy(update={"tax_avalara_account_id": None}))
    svc = build_tax_service(settings)
    assert svc.recorder is svc.provider
    assert LICENSE not in repr(settings) and LICENSE not in repr(svc)


@pytest.mark.parametrize(
    ("route", "answer"),
    [
        ("void", _error(500, "ServerConfiguration", "Internal error.")),
        ("void", (HANG, None)),
        ("refund", _error(429, "RateLimitExceeded", "Too many requests.")),
        ("refund", _error(401, "AuthenticationException", "Authentication failed.")),
    ],
    ids=["void-500", "void-timeout", "refund-429", "refund-401"],
)
async def test_void_and_refund_failures_are_retried(
    rt: Runtime, avatax: Loopback, clock: Any, route: str, answer: tuple[int, Any]
) -> None:
    order = await taxed_order(rt)
    if route == "void":
        await cancel_order(rt, rt.gateway, order.id, None, SYSTEM)
    else:
        await refund_order(rt, rt.gateway, order.id, RefundRequest(1000, "k"), SYSTEM)
    avatax.script(route, *answer)
    assert await _sweep(rt) == 1  # the sale; its follow-up failed
    follow = (await _jobs(rt))[1]
    assert follow.kind == route and follow.status == "pending" and follow.last_error
    clock.advance(seconds=31)
    assert await _sweep(rt) == 1
    assert [j.status for j in await _jobs(rt)] == ["done", "done"]
    assert len(avatax.calls(f"POST /api/v2/companies/{COMPANY}/transactions/")) == 2
