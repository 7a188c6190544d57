"""What catalog offers the rest of tillpoint.

Products and variants with their prices, the demo catalog, and managing the catalog
(admin API, CLI import and export).

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.catalog.admin import (
    IMAGE_URL_PATTERN,
    MAX_DESCRIPTION,
    SKU_PATTERN,
    SLUG_PATTERN,
    ProductDraft,
    VariantDraft,
    add_variant,
    create_product,
    find_products,
    read_product,
    update_product,
    update_variant,
    upsert_product,
)
from tillpoint.catalog.by_sku import sellable_by_sku
from tillpoint.catalog.demo import seed_demo_catalog
from tillpoint.catalog.models import Product, ProductVariant, images_of
from tillpoint.catalog.service import (
    PRODUCT_ID_PATTERN,
    Sellable,
    existing_product_ids,
    get_product,
    get_product_by_slug,
    is_product_id,
    list_products,
    resolve_sellable,
    sellables_for,
)
from tillpoint.catalog.transfer import (
    ImportReport,
    ImportRow,
    export_catalog,
    import_rows,
    read_csv,
    read_json,
)
from tillpoint.catalog.unlisted import PriceData, unlisted_product

__all__ = [
    "IMAGE_URL_PATTERN",
    "MAX_DESCRIPTION",
    "PRODUCT_ID_PATTERN",
    "SKU_PATTERN",
    "SLUG_PATTERN",
    "ImportReport",
    "ImportRow",
    "PriceData",
    "Product",
    "ProductDraft",
    "ProductVariant",
    "Sellable",
    "VariantDraft",
    "add_variant",
    "create_product",
    "existing_product_ids",
    "export_catalog",
    "find_products",
    "get_product",
    "get_product_by_slug",
    "images_of",
    "import_rows",
    "is_product_id",
    "list_products",
    "read_csv",
    "read_json",
    "read_product",
    "resolve_sellable",
    "seed_demo_catalog",
    "sellable_by_sku",
    "sellables_for",
    "unlisted_product",
    "update_product",
    "update_variant",
    "upsert_product",
]
