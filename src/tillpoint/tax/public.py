"""What tax offers the rest of tillpoint.

Tax: the service that calculates tax for a request, and its types; and the record of
sales at providers that keep one (AvaTax, TaxJar): the orders feature queues a paid
order's sale, its void and its refunds, and the sweeper sends them.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.tax.job_admin import JOB_STATUSES, TaxJobInfo, list_tax_jobs, retry_tax_job
from tillpoint.tax.recording import (
    deliver_tax_transactions,
    queue_tax_refund,
    queue_tax_sale,
    queue_tax_void,
    records_transactions,
)
from tillpoint.tax.service import TaxCalculationService, build_tax_service
from tillpoint.tax.transactions import (
    RefundedLine,
    SaleAddress,
    SaleLine,
    TaxRefund,
    TaxSale,
)
from tillpoint.tax.types import (
    TaxableLine,
    TaxAddress,
    TaxBreakdownItem,
    TaxCalculation,
    TaxRequest,
)

__all__ = [
    "JOB_STATUSES",
    "RefundedLine",
    "SaleAddress",
    "SaleLine",
    "TaxAddress",
    "TaxBreakdownItem",
    "TaxCalculation",
    "TaxCalculationService",
    "TaxJobInfo",
    "TaxRefund",
    "TaxRequest",
    "TaxSale",
    "TaxableLine",
    "build_tax_service",
    "deliver_tax_transactions",
    "list_tax_jobs",
    "queue_tax_refund",
    "queue_tax_sale",
    "queue_tax_void",
    "records_transactions",
    "retry_tax_job",
]
