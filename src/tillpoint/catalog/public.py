"""What catalog offers the rest of tillpoint.

Products and variants with their prices, and the demo catalog.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.catalog.demo import seed_demo_catalog
from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.catalog.service import (
    Sellable,
    get_product,
    list_products,
    resolve_sellable,
    sellables_for,
)

__all__ = [
    "Product",
    "ProductVariant",
    "Sellable",
    "get_product",
    "list_products",
    "resolve_sellable",
    "seed_demo_catalog",
    "sellables_for",
]
