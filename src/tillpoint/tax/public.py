"""What tax offers the rest of tillpoint.

Tax: the service that calculates tax for a request, and its types.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.tax.service import TaxCalculationService, build_tax_service
from tillpoint.tax.types import (
    TaxableLine,
    TaxAddress,
    TaxBreakdownItem,
    TaxCalculation,
    TaxRequest,
)

__all__ = [
    "TaxAddress",
    "TaxBreakdownItem",
    "TaxCalculation",
    "TaxCalculationService",
    "TaxRequest",
    "TaxableLine",
    "build_tax_service",
]
