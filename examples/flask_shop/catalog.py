"""The shop's own catalog: two products, prices in cents. One is also in tillpoint's
catalog (by SKU, so tillpoint checks and reserves its stock); the other is priced by the
shop and sent as ``price_data``."""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.client import LineItem, PriceData, PriceDataLineItem, SkuLineItem
from tillpoint.client.models import AdjustableQuantity


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    description: str
    price: int  # cents
    sku: str | None = None  # set: tillpoint's catalog prices and stocks it

    def line_item(self) -> LineItem:
        if self.sku is not None:
            allowed = AdjustableQuantity(enabled=True, minimum=1, maximum=5)
            return SkuLineItem(sku=self.sku, quantity=1, adjustable_quantity=allowed)
        price = PriceData(currency="USD", unit_amount=self.price, name=self.name)
        return PriceDataLineItem(price_data=price, quantity=1)


PRODUCTS = {
    p.slug: p
    for p in (
        Product(
            "sencha",
            "Sencha Green Tea, 100 g",
            "Steamed Japanese green tea, grassy and bright.",
            1250,
            sku="TEA-SENCHA",
        ),
        Product(
            "tasting-notebook",
            "Tea Tasting Notebook",
            "Sixty pages to write down every cup (made by the shop itself).",
            900,
        ),
    )
}


def money(cents: int, currency: str = "USD") -> str:
    """``1250`` → ``$12.50`` (integer arithmetic: no float ever holds money)."""
    whole, part = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{whole:,}.{part:02d}"
