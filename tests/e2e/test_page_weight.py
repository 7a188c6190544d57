"""How heavy and how quick /checkout is, measured in the browser on a cold cache.

The budget (issue 9): under 100 KB of our own assets (HTML, CSS, JS; Stripe.js and
API answers are not ours to count). Both numbers are printed at the end of the run.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LiveServer, report_measurement
from tests.e2e.shopper import add_to_cart, open_page, screen

BUDGET_BYTES = 100 * 1024


def test_checkout_page_weight_and_time_to_interactive(
    page: Any, live: LiveServer, browser: Any
) -> None:
    open_page(page, "/")
    add_to_cart(page, "Canvas Tote Bag", 1)
    # A new tab of the same customer with an empty cache: everything is fetched again.
    state = page.context.storage_state()
    context = browser.new_context(base_url=live.url, storage_state=state)
    cold = context.new_page()
    try:
        cold.goto("/checkout")
        cold.wait_for_selector("html[data-ready='true']")
        screen(cold, "contact")
        numbers = cold.evaluate(
            """() => {
                const nav = performance.getEntriesByType("navigation")[0];
                const resources = performance.getEntriesByType("resource");
                const own = resources.filter(r => new URL(r.name).pathname.startsWith("/static/"));
                const apis = resources.filter(r => new URL(r.name).pathname.startsWith("/api/"));
                const sum = (list, key) => list.reduce((n, r) => n + r[key], 0);
                const mark = performance.getEntriesByName("checkout-interactive")[0];
                return {
                    html: nav.transferSize, assets: sum(own, "transferSize"),
                    asset_files: own.length, api: sum(apis, "transferSize"),
                    api_calls: apis.length,
                    dom_content_loaded: Math.round(nav.domContentLoadedEventEnd),
                    interactive: Math.round(mark.startTime),
                };
            }"""
        )
    finally:
        context.close()
    own_bytes = numbers["html"] + numbers["assets"]
    report_measurement(
        f"/checkout [{live.backend}]: own assets {own_bytes} bytes transferred "
        f"(HTML {numbers['html']}, {numbers['asset_files']} CSS/JS files {numbers['assets']}); "
        f"API {numbers['api']} bytes in {numbers['api_calls']} calls; "
        f"DOMContentLoaded {numbers['dom_content_loaded']} ms; "
        f"interactive (first step drawn) {numbers['interactive']} ms"
    )
    assert numbers["asset_files"] >= 5  # css + the checkout's modules were all counted
    assert own_bytes < BUDGET_BYTES
