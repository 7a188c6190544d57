"""A product's own page in a real browser: its image, its price, add to cart from it, at
1280 and 360 px, with axe-core finding no serious or critical problems."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import no_horizontal_scroll, open_page
from tillpoint.catalog.public import ProductDraft, VariantDraft, create_product
from tillpoint.runtime import Runtime


def _lamp(live: LiveServer) -> None:
    # An absolute http(s) URL, as an admin gives it; this one is the shop's own origin.
    image = f"{live.url}/static/favicon.svg"

    async def make(rt: Runtime) -> None:
        await create_product(
            rt,
            ProductDraft(
                sku="LAMP-01",
                name="Brass Desk Lamp",
                price=8900,
                compare_at_price=9900,
                description="Warm light.\n\nBrass and linen.",
                images=(image,),
                variants=(
                    VariantDraft(sku="LAMP-01-BR", name="Brass"),
                    VariantDraft(sku="LAMP-01-BK", name="Black", price=9200),
                ),
            ),
        )

    live.call(make)


@pytest.mark.parametrize("viewport", ["page", "mobile_page"])
def test_product_page_shows_its_image_and_adds_to_cart(
    viewport: str, request: pytest.FixtureRequest, live: LiveServer, shots: Any
) -> None:
    page = request.getfixturevalue(viewport)
    _lamp(live)
    open_page(page, "/")
    page.get_by_role("link", name="Brass Desk Lamp").click()
    page.wait_for_url("**/products/brass-desk-lamp")
    page.wait_for_selector("html[data-ready='true']")
    expect(page.get_by_role("heading", level=1, name="Brass Desk Lamp")).to_be_visible()
    image = page.get_by_role("img", name="Brass Desk Lamp")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator(".price").first).to_contain_text("$89.00")
    expect(page.locator(".price s").first).to_contain_text("$99.00")
    no_horizontal_scroll(page)
    assert_accessible(page, context=f"product page ({viewport})")

    page.get_by_label("Option").select_option(label="Black ($92.00)")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("[data-cart-count]").first).to_have_text("2")
    expect(page.locator("#announcer")).to_have_text("Added 2 \u00d7 Brass Desk Lamp to your cart.")
    shots(page, f"product-{viewport}")

    open_page(page, "/cart")
    expect(page.get_by_role("heading", name="Brass Desk Lamp — Black")).to_be_visible()


def test_unknown_product_page_is_a_404_page(page: Any, live: LiveServer) -> None:
    response = page.goto("/products/no-such-lamp")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
