"""Stripe Tax through the official SDK (``/v1/tax/calculations``).

Any failure — network, API error, an answer we cannot read, sums that do not add up —
raises :class:`TaxProviderError`, and the checkout refuses to price rather than
charge a wrong tax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe

from tillpoint.tax.types import (
    TaxBreakdownItem,
    TaxCalculation,
    TaxProviderError,
    TaxRequest,
)

# Stripe product tax codes per our categories (override per shop).
DEFAULT_TAX_CODES: dict[str, str] = {
    "standard": "txcd_99999999",  # general tangible goods
    "reduced": "txcd_40060003",  # food and grocery
    "exempt": "txcd_00000000",  # nontaxable
}


def percent_to_ppm(text: str) -> int:
    """``"8.875"`` (percent, as Stripe writes it) → 88750 parts per million, exactly."""
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 4:
        raise ValueError(f"not a percentage: {text!r}")
    return int(whole) * 10_000 + int(frac.ljust(4, "0") or "0")


@dataclass
class StripeTaxProvider:
    """Calculates with ``client.v1.tax.calculations``; ``inclusive`` says how prices are meant."""

    client: stripe.StripeClient
    inclusive: bool = False
    tax_codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TAX_CODES))
    name: str = "stripe_tax"

    def _params(self, request: TaxRequest) -> dict[str, Any]:
        behavior = "inclusive" if self.inclusive else "exclusive"
        addr = request.address
        params: dict[str, Any] = {
            "currency": request.currency.lower(),
            "line_items": [
                {
                    "amount": line.amount,
                    "quantity": line.quantity,
                    "reference": line.line_id,
                    "tax_behavior": behavior,
                    "tax_code": self.tax_codes.get(line.tax_category, self.tax_codes["standard"]),
                }
                for line in request.lines
            ],
            "customer_details": {
                "address": {
                    "country": addr.country,
                    **({"state": addr.region} if addr.region else {}),
                    **({"postal_code": addr.postal_code} if addr.postal_code else {}),
                    **({"city": addr.city} if addr.city else {}),
                },
                "address_source": "shipping",
            },
            "expand": ["line_items"],
        }
        if request.shipping_amount:
            params["shipping_cost"] = {"amount": request.shipping_amount, "tax_behavior": behavior}
        return params

    async def calculate(self, request: TaxRequest) -> TaxCalculation:
        try:
            calc = await self.client.v1.tax.calculations.create_async(
                self._params(request)  # type: ignore[arg-type]
            )
            data = calc.to_dict()
            return self._read(request, data)
        except stripe.StripeError as exc:
            raise TaxProviderError(f"Stripe Tax: {exc.user_message or exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise TaxProviderError(f"Stripe Tax answered an unexpected shape: {exc}") from exc

    def _read(self, request: TaxRequest, data: dict[str, Any]) -> TaxCalculation:
        by_ref = {item["reference"]: int(item["amount_tax"]) for item in data["line_items"]["data"]}
        wanted = [line.line_id for line in request.lines]
        if sorted(by_ref) != sorted(wanted):
            raise ValueError("line items do not match the request")
        shipping_tax = int((data.get("shipping_cost") or {}).get("amount_tax", 0))
        breakdown = tuple(
            TaxBreakdownItem(
                jurisdiction="-".join(
                    p
                    for p in (
                        b["tax_rate_details"].get("country"),
                        b["tax_rate_details"].get("state"),
                    )
                    if p
                ),
                name=str(
                    b["tax_rate_details"].get("display_name")
                    or b["tax_rate_details"].get("tax_type")
                    or "tax"
                ),
                rate_ppm=percent_to_ppm(str(b["tax_rate_details"]["percentage_decimal"])),
                taxable_amount=int(b["taxable_amount"]),
                tax_amount=int(b["amount"]),
            )
            for b in data.get("tax_breakdown", [])
            if b.get("tax_rate_details")
        )
        result = TaxCalculation(
            self.name,
            self.inclusive,
            tuple((ref, by_ref[ref]) for ref in wanted),
            shipping_tax,
            breakdown,
        )
        stated = int(data["tax_amount_inclusive" if self.inclusive else "tax_amount_exclusive"])
        if stated != result.tax_amount:
            raise ValueError(f"tax {stated} != lines + shipping {result.tax_amount}")
        return result
