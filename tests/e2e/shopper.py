"""What a shopper does in the browser, as small steps the browser tests compose."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect


def wait_until(page: Any, expression: str, timeout: float = 5.0) -> None:
    """Poll ``expression`` until it is true. Not ``page.wait_for_function``: its in-page
    polling evaluates a string, which our CSP (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(50)


def open_page(page: Any, path: str) -> None:
    """Go to ``path`` and wait until its script has started (``<html data-ready>``)."""
    page.goto(path)
    page.wait_for_selector("html[data-ready='true']")


def product_card(page: Any, name: str) -> Any:
    return page.locator("li.product").filter(has=page.get_by_role("heading", name=name, exact=True))


def add_to_cart(page: Any, name: str, quantity: int = 1, option: str | None = None) -> None:
    """On the catalog: choose the option and quantity, press Add to cart, wait for the badge."""
    card = product_card(page, name)
    before = page.locator("[data-cart-count]").first.text_content() or "0"
    if option is not None:
        card.get_by_label("Option").select_option(label=option)
    card.get_by_label("Quantity").fill(str(quantity))
    card.get_by_role("button", name=re.compile("Add to cart")).click()
    expect(page.locator("[data-cart-count]").first).to_have_text(str(int(before) + quantity))


def cart_line(page: Any, name: str) -> Any:
    return page.locator("li.line").filter(has=page.get_by_role("heading", name=name, exact=True))


def total_text(page: Any, which: str = "total") -> Any:
    return page.locator(f'[data-total="{which}"]')


def focused(page: Any) -> dict[str, Any]:
    """What has keyboard focus: tag, id, name, text and accessible label bits."""
    return dict(
        page.evaluate(
            """() => { const e = document.activeElement; return {
                tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name'),
                text: (e.textContent || '').trim(), role: e.dataset ? e.dataset.role : null,
                href: e.getAttribute('href') }; }"""
        )
    )


def tab_to(page: Any, selector: str, *, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches ``selector``."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press(key)
    raise AssertionError(f"could not reach {selector!r} with {key}; focus is on {focused(page)}")


def no_horizontal_scroll(page: Any) -> None:
    """Nothing wider than the viewport (the 360 px check)."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page scrolls sideways: {widths[0]} px > {widths[1]} px"


US_ADDRESS = {
    "street1": "1 Infinite Loop",
    "city": "Cupertino",
    "state": "California",
    "zip_code": "95014",
}


def start_checkout(page: Any, *products: tuple[str, int]) -> None:
    """Fill the cart from the catalog, then open /checkout from the cart page."""
    open_page(page, "/")
    for name, quantity in products:
        add_to_cart(page, name, quantity)
    open_page(page, "/cart")
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url("**/checkout?id=*")
    page.wait_for_selector("html[data-ready='true']")


def step(page: Any, state: str) -> Any:
    """Wait until the checkout shows the step for ``state``; returns the step panel."""
    panel = page.locator(f"#step[data-state='{state}']")
    expect(panel).to_be_visible()
    return panel


def screen(page: Any, name: str) -> Any:
    """Wait until the checkout shows ``name`` ("contact", "delivery", "review"), its
    heading focused or the page just opened; returns the step panel."""
    panel = page.locator(f"#step[data-screen='{name}']")
    expect(panel).to_be_visible()
    return panel


def fill_address(page: Any, values: dict[str, str], country: str = "United States") -> None:
    panel = page.locator("#step [data-address-slot]")
    panel.get_by_label("Country").select_option(label=country)
    for field, value in values.items():
        control = panel.locator(f"[data-field='{field}']:not([hidden])")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(label=value)
        else:
            control.fill(value)


def fill_contact(
    page: Any,
    email: str | None = "ada@example.com",
    address: dict[str, str] | None = None,
    name: tuple[str, str] = ("Ada", "Lovelace"),
) -> Any:
    """The first screen: e-mail (a guest's) and the shipping address with its names."""
    panel = screen(page, "contact")
    if email is not None:
        panel.get_by_label("Email", exact=True).fill(email)
    values = {"first_name": name[0], "last_name": name[1], **(address or US_ADDRESS)}
    fill_address(page, values)
    return panel


def to_delivery(page: Any, email: str | None = "ada@example.com") -> Any:
    """Fill the first screen and continue; returns the delivery and payment screen."""
    fill_contact(page, email).get_by_role("button", name="Continue to delivery").click()
    return screen(page, "delivery")


def guest_to_payment(page: Any, *products: tuple[str, int], email: str = "ada@example.com") -> None:
    """From the catalog to the delivery and payment screen as a guest with a US address."""
    start_checkout(page, *products)
    to_delivery(page, email)


def pay_with(page: Any, card: str) -> Any:
    """On delivery and payment: a sandbox test card ("4242", "0002", "3155"), continue to
    the review, place the order."""
    panel = screen(page, "delivery")
    panel.get_by_label(re.compile(f"Visa {card}")).check()
    panel.get_by_role("button", name="Continue to review").click()
    panel = screen(page, "review")
    panel.get_by_role("button", name=re.compile("Place order and pay")).click()
    return panel
