"""TaxJar (Sales Tax API v2, ``x-api-version: 2022-01-24``) for quotes and for the record.

- Quote: ``POST /v2/taxes``; per line ``tax.breakdown.line_items[].tax_collectable``,
  shipping in ``tax.breakdown.shipping``, the total in ``tax.amount_to_collect``.
- Paid order: ``POST /v2/transactions/orders`` with the order number as
  ``transaction_id`` and the tax we charged as ``sales_tax``.
- Cancelled: ``DELETE /v2/transactions/orders/{transaction_id}``.
- Refund: ``POST /v2/transactions/refunds`` with our refund id as ``transaction_id`` and
  the order's as ``transaction_reference_id``; refunded amounts are negative.

Amounts are decimal dollars. Authentication: ``Authorization: Bearer <token>``. An error
answers ``{"error": "Unauthorized", "detail": "...", "status": 401}``. A retry that finds
the transaction already there (422 ``already exists``), or a delete of one already gone
(404), means the earlier attempt landed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from tillpoint.money import Rounding, divide
from tillpoint.tax.decimal_amounts import rate_to_ppm, spread, to_decimal, to_minor
from tillpoint.tax.provider_http import ProviderHttpError, exchange
from tillpoint.tax.transactions import SaleAddress, TaxRefund, TaxSale
from tillpoint.tax.types import (
    TaxBreakdownItem,
    TaxCalculation,
    TaxProviderError,
    TaxRequest,
)

# TaxJar product tax codes per our categories ("" = fully taxable, sent without a code).
DEFAULT_TAX_CODES: dict[str, str] = {"standard": "", "reduced": "40030", "exempt": "99999"}
API_VERSION = "2022-01-24"
_LEVELS = (
    ("state", "state_tax_rate", "state_taxable_amount", "state_tax_collectable"),
    ("county", "county_tax_rate", "county_taxable_amount", "county_tax_collectable"),
    ("city", "city_tax_rate", "city_taxable_amount", "city_tax_collectable"),
    ("special district", "special_tax_rate", "special_district_taxable_amount",
     "special_district_tax_collectable"),
)  # fmt: skip


def read_taxjar_error(data: Any) -> tuple[str, str]:
    if not isinstance(data, dict):
        return "", "unreadable error body"
    return str(data.get("error") or ""), str(data.get("detail") or "")


def priced(amount: int, quantity: int) -> tuple[int, int]:
    """``(unit_price, discount)`` with ``unit_price * quantity - discount == amount``
    exactly, for a line whose amount does not divide by its quantity."""
    unit = divide(amount, max(quantity, 1), Rounding.up)
    return unit, unit * max(quantity, 1) - amount


@dataclass
class TaxJarTaxProvider:
    token: str = field(repr=False)
    endpoint: str = "https://api.taxjar.com"
    origin: Mapping[str, str] = field(default_factory=lambda: {"country": "US"})
    timeout: float = 5.0
    tax_codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TAX_CODES))
    transport: httpx.AsyncBaseTransport | None = None
    name: str = "taxjar"

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        _, data = await exchange(
            "TaxJar", method, self.endpoint.rstrip("/") + path,
            headers={"Authorization": f"Bearer {self.token}", "x-api-version": API_VERSION},
            body=body, time_limit=self.timeout, read_error=read_taxjar_error,
            transport=self.transport,
        )  # fmt: skip
        return data

    def _to(self, a: SaleAddress) -> dict[str, Any]:
        to = {"to_country": a.country, "to_zip": a.postal_code, "to_state": a.region,
              "to_city": a.city, "to_street": a.line1}  # fmt: skip
        origin = {"from_country": self.origin.get("country", "US"),
                  "from_zip": self.origin.get("postal_code", "")}  # fmt: skip
        return {k: v for k, v in {**origin, **to}.items() if v}

    def _item(
        self, line_id: str, quantity: int, amount: int, category: str, cur: str
    ) -> dict[str, Any]:
        unit, discount = priced(amount, quantity)
        item: dict[str, Any] = {
            "id": line_id, "quantity": quantity,
            "unit_price": to_decimal(unit, cur), "discount": to_decimal(discount, cur),
        }  # fmt: skip
        code = self.tax_codes.get(category, "")
        if code:
            item["product_tax_code"] = code
        return item

    # --- quotes -------------------------------------------------------------------

    async def calculate(self, request: TaxRequest) -> TaxCalculation:
        cur, a = request.currency, request.address
        body = {
            **self._to(SaleAddress(a.country, a.region, a.postal_code, a.city)),
            "amount": to_decimal(sum(line.amount for line in request.lines), cur),
            "shipping": to_decimal(request.shipping_amount, cur),
            "line_items": [
                self._item(line.line_id, line.quantity, line.amount, line.tax_category, cur)
                for line in request.lines
            ],
        }
        data = await self._call("POST", "/v2/taxes", body)
        try:
            return self._read(request, data["tax"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TaxProviderError(f"TaxJar answered an unexpected shape: {exc}") from exc

    def _read(self, request: TaxRequest, tax: dict[str, Any]) -> TaxCalculation:
        cur = request.currency
        total = to_minor(tax["amount_to_collect"], cur)
        breakdown = tax.get("breakdown") or {}
        by_id = {
            str(item["id"]): Decimal(item["tax_collectable"])
            for item in breakdown.get("line_items") or []
        }
        wanted = [line.line_id for line in request.lines]
        if total and sorted(by_id) != sorted(wanted):
            raise ValueError("line items do not match the request")
        shares = [by_id.get(k, Decimal(0)) for k in wanted]
        shares.append(Decimal((breakdown.get("shipping") or {}).get("tax_collectable", 0)))
        parts = spread(total, shares)
        return TaxCalculation(
            self.name, False, tuple(zip(wanted, parts[:-1], strict=True)), parts[-1],
            self._breakdown(tax, breakdown, total, cur),
        )  # fmt: skip

    def _breakdown(
        self, tax: dict[str, Any], b: dict[str, Any], total: int, cur: str
    ) -> tuple[TaxBreakdownItem, ...]:
        where = "-".join(
            p for p in ((tax.get("jurisdictions") or {}).get("country"),
                        (tax.get("jurisdictions") or {}).get("state")) if p
        )  # fmt: skip
        levels = [lv for lv in _LEVELS if Decimal(b.get(lv[3], 0)) > 0]
        if not total or not levels:
            return ()
        amounts = spread(total, [Decimal(b[lv[3]]) for lv in levels])
        return tuple(
            TaxBreakdownItem(where, f"{name} tax", rate_to_ppm(b.get(rate, 0)),
                             to_minor(b.get(taxable, 0), cur), amount)
            for (name, rate, taxable, _), amount in zip(levels, amounts, strict=True)
        )  # fmt: skip

    # --- the record -----------------------------------------------------------------

    def _record(self, sale: TaxSale, sign: int, date: str, lines: list[dict[str, Any]],
                amount: int, shipping: int, tax: int) -> dict[str, Any]:  # fmt: skip
        cur = sale.currency
        return {
            **self._to(sale.address), "transaction_date": date,
            "amount": to_decimal(sign * amount, cur), "shipping": to_decimal(sign * shipping, cur),
            "sales_tax": to_decimal(sign * tax, cur), "customer_id": sale.customer_code,
            "line_items": lines,
        }  # fmt: skip

    def _sale_item(self, line_id: str, quantity: int, amount: int, tax: int, sale: TaxSale,
                   sign: int) -> dict[str, Any]:  # fmt: skip
        found = next((ln for ln in sale.lines if ln.line_id == line_id), None)
        category = found.tax_category if found else "standard"
        item = self._item(line_id, quantity, amount, category, sale.currency)
        item["unit_price"] = sign * item["unit_price"]
        item["discount"] = sign * item["discount"]
        item["sales_tax"] = to_decimal(sign * tax, sale.currency)
        if found is not None:
            item["product_identifier"] = found.item_code
            item["description"] = found.description[:255]
        return item

    async def commit_sale(self, sale: TaxSale) -> None:
        lines = [self._sale_item(ln.line_id, ln.quantity, ln.amount, ln.tax, sale, 1)
                 for ln in sale.lines]  # fmt: skip
        body = self._record(sale, 1, sale.date, lines, sale.amount, sale.shipping_amount,
                            sale.tax)  # fmt: skip
        body["transaction_id"] = sale.code
        try:
            await self._call("POST", "/v2/transactions/orders", body)
        except ProviderHttpError as exc:
            if not (exc.status == 422 and "already exists" in str(exc)):
                raise

    async def void_sale(self, sale: TaxSale) -> None:
        try:
            await self._call("DELETE", f"/v2/transactions/orders/{quote(sale.code, safe='')}", None)
        except ProviderHttpError as exc:
            if exc.status != 404:  # already gone: a retry of a delete that landed
                raise

    async def refund_sale(self, sale: TaxSale, refund: TaxRefund) -> None:
        lines = [self._sale_item(ln.line_id, max(ln.quantity, 1), ln.amount, ln.tax, sale, -1)
                 for ln in refund.lines]  # fmt: skip
        body = self._record(sale, -1, refund.date, lines, refund.amount,
                            refund.shipping_amount, refund.tax)  # fmt: skip
        body["transaction_id"] = refund.code
        body["transaction_reference_id"] = sale.code
        try:
            await self._call("POST", "/v2/transactions/refunds", body)
        except ProviderHttpError as exc:
            if not (exc.status == 422 and "already exists" in str(exc)):
                raise
