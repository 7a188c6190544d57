"""Coupons on the cart page (needs the promotions feature)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import add_to_cart, open_page, total_text


def create_coupon(live: LiveServer, code: str, **fields: Any) -> None:
    from tillpoint.promotions.admin import CouponDraft, create_coupon

    async def make(rt: Any) -> None:
        now = rt.clock.now()
        values: dict[str, Any] = {
            "code": code,
            "type": "percentage",
            "value": 1000,  # basis points: 10 %
            "start_date": now - timedelta(hours=1),
            "end_date": now + timedelta(days=1),
            **fields,
        }
        await create_coupon(rt, CouponDraft(**values))

    live.call(make)


def test_coupon_applied_and_removed(page: Any, live: LiveServer, shots: Any) -> None:
    create_coupon(live, "TEN")
    open_page(page, "/")
    add_to_cart(page, "Gooseneck Kettle", 1)
    add_to_cart(page, "Canvas Tote Bag", 1)
    open_page(page, "/cart")
    expect(total_text(page)).to_have_text("$84.00")

    # A code that does not exist: the message sits under the field, which gets focus.
    code = page.get_by_label("Coupon code")
    code.fill("NOPE")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#coupon-message")).not_to_be_empty()
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(code).to_be_focused()
    expect(total_text(page)).to_have_text("$84.00")
    shots(page, "coupon-refused")

    code.fill("ten")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#coupon-status")).to_have_text("Coupon TEN applied. You save $8.40.")
    expect(total_text(page, "discount")).to_have_text("\u2212$8.40")
    expect(total_text(page)).to_have_text("$75.60")
    expect(page.locator("#applied-coupons")).to_contain_text("TEN")
    assert_accessible(page, context="cart with coupon")
    shots(page, "coupon-applied")

    # The discount follows the cart: one more tote bag, 10 % of the new subtotal.
    page.locator("li.line").filter(has_text="Canvas Tote Bag").get_by_label(
        "Quantity of Canvas Tote Bag"
    ).fill("2")
    page.locator("li.line").filter(has_text="Canvas Tote Bag").get_by_role(
        "button", name="Update"
    ).click()
    expect(total_text(page, "discount")).to_have_text("\u2212$9.90")
    expect(total_text(page)).to_have_text("$89.10")

    page.get_by_role("button", name="Remove coupon TEN").click()
    expect(page.locator("#applied-coupons")).not_to_contain_text("TEN")
    expect(total_text(page)).to_have_text("$99.00")
    expect(page.locator("[data-discount-row]")).to_be_hidden()
    expect(code).to_be_focused()
