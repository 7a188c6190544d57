"""Made-up data for each kind of email: what ``tillpoint email preview KIND`` renders."""

from __future__ import annotations

from tillpoint.config import Settings
from tillpoint.mail.kinds import (
    BackInStock,
    EmailData,
    EmailDiscount,
    EmailKind,
    EmailLine,
    EmailVerification,
    LowStock,
    OrderConfirmation,
    OrderShipped,
    OwnerNewOrder,
    PasswordReset,
    PostalAddress,
    RefundIssued,
)
from tillpoint.mail.render import absolute_url

_ADDRESS = PostalAddress(("Ada Lovelace", "12 Example Street", "94105 San Francisco CA", "US"))
_LINES = (
    EmailLine("Classic T-shirt — Large", 2, 2500, 5000, sku="TEE-L"),
    EmailLine("Canvas tote bag", 1, 123456, 123456, sku="TOTE"),
)
_ORDER_URL = "/orders/ord_SAMPLE0000000000000000?token=sample-access-token"


def sample(kind: EmailKind, settings: Settings) -> EmailData:
    """A realistic instance of ``kind`` in the shop's default currency."""
    currency = settings.default_currency
    order_url = absolute_url(settings, _ORDER_URL)
    samples: dict[EmailKind, EmailData] = {
        EmailKind.order_confirmation: OrderConfirmation(
            number="TP-2026-000123", currency=currency, lines=_LINES,
            discounts=(EmailDiscount("WELCOME10", 2500), EmailDiscount("FREESHIP", 500)),
            subtotal=128456, shipping=500, tax=10070, total=136026, order_url=order_url,
            shipping_method="Standard delivery", shipping_address=_ADDRESS,
            billing_address=_ADDRESS,
        ),
        EmailKind.order_shipped: OrderShipped(
            number="TP-2026-000123", carrier="UPS", tracking_number="1Z999AA10123456784",
            tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
            order_url=order_url, lines=_LINES, shipping_address=_ADDRESS,
        ),
        EmailKind.refund_issued: RefundIssued(
            number="TP-2026-000123", currency=currency, amount=2500, refunded_total=2500,
            order_total=136026, order_url=order_url, reason="One shirt arrived damaged",
            lines=(EmailLine("Classic T-shirt — Large", 1, 2500, 2500, sku="TEE-L"),),
        ),
        EmailKind.owner_new_order: OwnerNewOrder(
            number="TP-2026-000123", currency=currency, lines=_LINES, total=136026,
            admin_url=absolute_url(settings, "/admin/orders/ord_SAMPLE0000000000000000"),
            customer_email="ada@example.com", shipping_method="Standard delivery",
            shipping_address=_ADDRESS,
        ),
        EmailKind.back_in_stock: BackInStock(
            product_name="Canvas tote bag", product_url=absolute_url(settings, "/")
        ),
        EmailKind.password_reset: PasswordReset(
            reset_url=absolute_url(settings, "/account/reset?token=sample-reset-token"),
            expires_minutes=30,
        ),
        EmailKind.email_verification: EmailVerification(
            verify_url=absolute_url(settings, "/account/verify?token=sample-verify-token"),
            expires_minutes=1440,
        ),
        EmailKind.low_stock: LowStock(
            sku="TOTE", available=3, threshold=5,
            stock_url=absolute_url(settings, "/admin/products/prod_SAMPLE0000000000000000"),
        ),
    }  # fmt: skip
    return samples[kind]
