"""Avalara AvaTax (REST API v2) for quotes and for the record of what was sold.

- Quote: ``POST /api/v2/transactions/create`` with ``type: SalesOrder`` (a temporary
  document AvaTax does not keep), one line per cart line plus a ``shipping`` line.
- Paid order: the same call with ``type: SalesInvoice``, ``commit: true`` and the order
  number as ``code``; each line carries the tax we charged as a ``TaxAmount`` override,
  so AvaTax reports what the customer paid. A retry that finds the code taken
  (``DocumentCodeConflict``) means the first attempt landed.
- Cancelled: ``POST /api/v2/companies/{company}/transactions/{code}/void`` with
  ``{"code": "DocVoided"}``.
- Refund: ``POST /api/v2/companies/{company}/transactions/{code}/refund``: ``Full`` for
  everything, ``Partial`` with ``refundLines`` for whole lines, else ``Percentage``.

Authentication is HTTP Basic with the account id and the license key. An error answers
``{"error": {"code", "message", "details": [...]}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from tillpoint.tax.decimal_amounts import rate_to_ppm, spread, to_decimal, to_minor
from tillpoint.tax.provider_http import ProviderHttpError, exchange
from tillpoint.tax.transactions import TaxRefund, TaxSale, is_full_refund, whole_lines
from tillpoint.tax.types import (
    TaxBreakdownItem,
    TaxCalculation,
    TaxProviderError,
    TaxRequest,
)

# AvaTax tax codes per our categories (override per shop): general tangible goods, food
# and grocery, non-taxable; shipping by common carrier.
DEFAULT_TAX_CODES: dict[str, str] = {
    "standard": "P0000000",
    "reduced": "PF050001",
    "exempt": "NT",
}
SHIPPING_TAX_CODE = "FR020100"
SHIPPING_LINE = "shipping"


def read_avalara_error(data: Any) -> tuple[str, str]:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", "unreadable error body"
    details = error.get("details") or []
    first = details[0] if details and isinstance(details[0], dict) else {}
    message = str(error.get("message") or "")
    if first.get("description"):
        message = f"{message} ({first['description']})"
    return str(error.get("code") or ""), message


@dataclass
class AvalaraTaxProvider:
    """AvaTax for ``company_code``; ``endpoint`` is production or the sandbox."""

    account_id: str
    license_key: str = field(repr=False)
    company_code: str
    endpoint: str = "https://rest.avatax.com"
    origin: Mapping[str, str] = field(default_factory=lambda: {"country": "US"})
    timeout: float = 5.0
    tax_codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TAX_CODES))
    transport: httpx.AsyncBaseTransport | None = None
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())
    name: str = "avalara"

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        _, data = await exchange(
            "AvaTax", "POST", self.endpoint.rstrip("/") + path,
            headers={"X-Avalara-Client": "tillpoint; 1.0; REST; v2"}, body=body,
            time_limit=self.timeout, read_error=read_avalara_error, transport=self.transport,
            auth=httpx.BasicAuth(self.account_id, self.license_key),
        )  # fmt: skip
        return data

    def _addresses(
        self, country: str, region: str, postal: str, city: str, line1: str = ""
    ) -> dict[str, Any]:
        ship_to = {"country": country, "region": region, "postalCode": postal, "city": city}
        if line1:
            ship_to["line1"] = line1
        return {
            "shipFrom": {
                "country": self.origin.get("country", "US"),
                "postalCode": self.origin.get("postal_code", ""),
            },
            "shipTo": {k: v for k, v in ship_to.items() if v},
        }

    def _code(self, category: str) -> str:
        return self.tax_codes.get(category, self.tax_codes["standard"])

    # --- quotes -------------------------------------------------------------------

    async def calculate(self, request: TaxRequest) -> TaxCalculation:
        cur = request.currency
        lines: list[dict[str, Any]] = [
            {"number": line.line_id, "quantity": line.quantity,
             "amount": to_decimal(line.amount, cur), "taxCode": self._code(line.tax_category),
             "itemCode": line.product_id}
            for line in request.lines
        ]  # fmt: skip
        if request.shipping_amount:
            lines.append(
                {"number": SHIPPING_LINE, "quantity": 1, "taxCode": SHIPPING_TAX_CODE,
                 "amount": to_decimal(request.shipping_amount, cur)}
            )  # fmt: skip
        a = request.address
        body = {
            "type": "SalesOrder", "companyCode": self.company_code,
            "date": self.today().isoformat(), "customerCode": "checkout",
            "currencyCode": cur, "commit": False,
            "addresses": self._addresses(a.country, a.region, a.postal_code, a.city),
            "lines": lines,
        }  # fmt: skip
        data = await self._post("/api/v2/transactions/create", body)
        try:
            return self._read(request, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TaxProviderError(f"AvaTax answered an unexpected shape: {exc}") from exc

    def _read(self, request: TaxRequest, data: dict[str, Any]) -> TaxCalculation:
        cur = request.currency
        by_number = {str(line["lineNumber"]): Decimal(line["tax"]) for line in data["lines"]}
        wanted = [line.line_id for line in request.lines]
        keys = wanted + ([SHIPPING_LINE] if request.shipping_amount else [])
        if sorted(by_number) != sorted(keys):
            raise ValueError("lines do not match the request")
        total = to_minor(data["totalTax"], cur)
        parts = spread(total, [by_number[k] for k in keys]) if keys else []
        taxes = dict(zip(keys, parts, strict=True))
        summary = data.get("summary") or []
        amounts = spread(total, [Decimal(s["tax"]) for s in summary]) if summary else []
        breakdown = tuple(
            TaxBreakdownItem(
                jurisdiction="-".join(p for p in (s.get("country"), s.get("region")) if p),
                name=str(s.get("taxName") or s.get("jurisName") or "tax"),
                rate_ppm=rate_to_ppm(s["rate"]),
                taxable_amount=to_minor(s.get("taxable", 0), cur),
                tax_amount=amount,
            )
            for s, amount in zip(summary, amounts, strict=True)
        )
        return TaxCalculation(
            self.name, False, tuple((k, taxes[k]) for k in wanted),
            taxes.get(SHIPPING_LINE, 0), breakdown,
        )  # fmt: skip

    # --- the record -----------------------------------------------------------------

    def _path(self, code: str, action: str) -> str:
        return (
            f"/api/v2/companies/{quote(self.company_code, safe='')}"
            f"/transactions/{quote(code, safe='')}/{action}"
        )

    async def commit_sale(self, sale: TaxSale) -> None:
        cur = sale.currency
        lines: list[dict[str, Any]] = [
            {"number": line.line_id, "quantity": line.quantity, "itemCode": line.item_code,
             "description": line.description[:255], "amount": to_decimal(line.amount, cur),
             "taxCode": self._code(line.tax_category),
             "taxOverride": {"type": "TaxAmount", "taxAmount": to_decimal(line.tax, cur),
                             "reason": "Tax collected at checkout"}}
            for line in sale.lines
        ]  # fmt: skip
        if sale.shipping_amount or sale.shipping_tax:
            lines.append(
                {"number": SHIPPING_LINE, "quantity": 1, "taxCode": SHIPPING_TAX_CODE,
                 "amount": to_decimal(sale.shipping_amount, cur),
                 "taxOverride": {"type": "TaxAmount",
                                 "taxAmount": to_decimal(sale.shipping_tax, cur),
                                 "reason": "Tax collected at checkout"}}
            )  # fmt: skip
        a = sale.address
        body = {
            "type": "SalesInvoice", "code": sale.code, "companyCode": self.company_code,
            "date": sale.date, "customerCode": sale.customer_code, "currencyCode": cur,
            "purchaseOrderNo": sale.order_id, "commit": True,
            "addresses": self._addresses(a.country, a.region, a.postal_code, a.city, a.line1),
            "lines": lines,
        }  # fmt: skip
        try:
            await self._post("/api/v2/transactions/create", body)
        except ProviderHttpError as exc:
            if exc.code != "DocumentCodeConflict":  # an earlier attempt landed: done
                raise

    async def void_sale(self, sale: TaxSale) -> None:
        await self._post(self._path(sale.code, "void"), {"code": "DocVoided"})

    async def refund_sale(self, sale: TaxSale, refund: TaxRefund) -> None:
        body: dict[str, Any] = {
            "refundTransactionCode": refund.code, "refundDate": refund.date,
            "referenceCode": f"Refund of order {sale.code}",
        }  # fmt: skip
        if is_full_refund(sale, refund):
            body["refundType"] = "Full"
        elif whole_lines(sale, refund):
            body["refundType"] = "Partial"
            body["refundLines"] = [line.line_id for line in refund.lines] + (
                [SHIPPING_LINE] if refund.shipping_amount or refund.shipping_tax else []
            )
        else:
            # An amount spread over the order (how by-amount refunds are prorated).
            paid = sale.amount + sale.tax
            share = Decimal(refund.amount + refund.tax) * 100 / Decimal(paid)
            body["refundType"] = "Percentage"
            body["refundPercentage"] = share.quantize(Decimal("0.0001"))
        try:
            await self._post(self._path(sale.code, "refund"), body)
        except ProviderHttpError as exc:
            if exc.code != "DocumentCodeConflict":
                raise
