"""What pricing offers the rest of tillpoint.

Totals: lines, discounts, shipping and tax priced into an ``OrderTotal``; the pricing
services the composition root builds.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.pricing.service import (
    PricingInput,
    PricingServices,
    ShippingNoLongerOffered,
    build_pricing_services,
    price_checkout,
    shipping_request,
)
from tillpoint.pricing.totals import OrderTotal

__all__ = [
    "OrderTotal",
    "PricingInput",
    "PricingServices",
    "ShippingNoLongerOffered",
    "build_pricing_services",
    "price_checkout",
    "shipping_request",
]
