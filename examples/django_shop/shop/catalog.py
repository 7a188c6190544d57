"""The shop's own catalog: two products, prices in cents. One is also in tillpoint's
catalog (by SKU, so tillpoint checks and reserves its stock); the other is priced by the
shop and sent as ``price_data``."""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.client import LineItem, PriceData, PriceDataLineItem, SkuLineItem


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    description: str
    price: int  # cents
    sku: str | None = None  # set: tillpoint's catalog prices and stocks it

    def line_item(self) -> LineItem:
        if self.sku is not None:
            return SkuLineItem(sku=self.sku, quantity=1)
        price = PriceData(currency="USD", unit_amount=self.price, name=self.name)
        return PriceDataLineItem(price_data=price, quantity=1)


PRODUCTS = {
    p.slug: p
    for p in (
        Product(
            "cedar-candle",
            "Cedar & Smoke Candle",
            "Soy wax, cedar and a hint of campfire; 40 hours.",
            3200,
            sku="CANDLE-CEDAR",
        ),
        Product(
            "linen-napkins",
            "Linen Napkins, set of 4",
            "Stonewashed linen in oat (sewn by the shop itself).",
            2400,
        ),
    )
}
