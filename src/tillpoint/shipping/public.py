"""What shipping offers the rest of tillpoint.

Shipping: the service that quotes options for a request, and its types.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.shipping.service import (
    ShippingCalculationService,
    ShippingQuote,
    build_shipping_service,
)
from tillpoint.shipping.types import ShippingOption, ShippingRequest

__all__ = [
    "ShippingCalculationService",
    "ShippingOption",
    "ShippingQuote",
    "ShippingRequest",
    "build_shipping_service",
]
