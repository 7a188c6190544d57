"""The storefront pages and their static files, over HTTP in-process (the browser
tests in tests/e2e drive them for real)."""

from __future__ import annotations

import pytest

from tests.factories import demo_catalog
from tests.support import Api, error_code
from tillpoint.runtime import Runtime
from tillpoint.web.pages.router import stripe_js_url


async def test_catalog_page_lists_every_active_product_with_price(api: Api, rt: Runtime) -> None:
    products = await demo_catalog(rt)
    r = await api.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    for p in products.values():
        assert f'data-product-id="{p.id}"' in r.text
    assert "Gooseneck Kettle" in r.text and "$69.00" in r.text
    assert '<script type="module" src="/static/js/catalog.js">' in r.text


@pytest.mark.parametrize("path", ["/cart", "/checkout", "/orders/ord_123"])
async def test_other_pages_render(api: Api, path: str) -> None:
    r = await api.get(path)
    assert r.status_code == 200
    assert '<main id="main"' in r.text


async def test_order_page_refuses_a_malformed_id(api: Api) -> None:
    r = await api.get("/orders/not%20an%20id")
    assert r.status_code == 404


async def test_static_files_are_served_and_revalidated(api: Api) -> None:
    r = await api.get("/static/js/api.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert r.headers["cache-control"] == "no-cache"
    again = await api.get("/static/js/api.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


async def test_address_rules_follow_the_country(api: Api) -> None:
    us = (await api.get("/api/addresses/rules/US")).json()
    assert us["required"] == ["street1", "city", "state", "zip_code"]
    assert us["labels"]["zip_code"] == "ZIP code"
    assert {"value": "CA", "label": "California"} in us["state_choices"]
    gb = (await api.get("/api/addresses/rules/gb")).json()
    assert "state" not in gb["fields"]
    assert gb["labels"]["city"] == "Town or city"
    ca = (await api.get("/api/addresses/rules/ca")).json()
    assert ca["country_code"] == "CA"
    assert {"state", "zip_code"} <= set(ca["required"])
    assert {"value": "ON", "label": "Ontario"} in ca["state_choices"]
    jp = (await api.get("/api/addresses/rules/JP")).json()
    assert jp["labels"]["state"] == "Prefecture"
    # One choice per prefecture, in its Latin spelling.
    assert len(jp["state_choices"]) == 47
    assert jp["state_choices"][0] == {"value": "北海道", "label": "Hokkaido"}


async def test_unknown_country_is_a_field_error(api: Api) -> None:
    r = await api.get("/api/addresses/rules/ZZ")
    assert r.status_code == 422
    assert error_code(r) == "unknown_country"
    assert r.json()["error"]["fields"][0]["path"] == ["country"]


async def test_one_address_rules_endpoint_in_openapi(api: Api) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert "/api/addresses/rules/{country_code}" in paths
    assert not [p for p in paths if "address-rules" in p]
    assert (await api.get("/api/checkout/address-rules/US")).status_code == 404


def test_stripe_js_url_follows_the_origin_setting() -> None:
    assert stripe_js_url("https://js.stripe.com") == "https://js.stripe.com/v3/"
    assert stripe_js_url("http://127.0.0.1:8420/") == "http://127.0.0.1:8420/js.stripe.com/v3/"


async def test_checkout_page_has_the_stripe_js_url_and_a_hidden_wallet_slot(api: Api) -> None:
    r = await api.get("/checkout")
    assert 'data-stripe-js="https://js.stripe.com/v3/"' in r.text
    assert '<div data-wallet class="wallet" hidden>' in r.text
    config = (await api.get("/api/payment/config")).json()
    assert config["account_country"] == "US"
    wallets = [m for m in config["methods"] if m["type"] == "digital_wallet"]
    assert wallets and wallets[0]["enabled"] is True


@pytest.mark.parametrize("path", ["/", "/cart", "/checkout", "/account/login"])
async def test_every_page_names_the_shop_and_has_a_favicon(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(rt.settings, "shop_name", "Acme Goods")
    monkeypatch.setattr(rt.settings, "shop_address", "1 Main St, Springfield")
    r = await api.get(path)
    assert r.status_code == 200
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in r.text
    assert "Acme Goods · 1 Main St, Springfield" in r.text and "Demo shop" not in r.text
    icon = await api.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


async def test_static_assets_are_compressed_and_api_answers_are_not(api: Api) -> None:
    r = await api.get("/static/js/checkout.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["vary"] and "function" in r.text
    r = await api.get("/api/cart", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "content-encoding" not in r.headers


async def test_prices_follow_the_shoppers_locale_and_else_the_shops(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await demo_catalog(rt)
    r = await api.get("/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert 'data-money-locale="de-DE"' in r.text and "69,00\u00a0$" in r.text
    monkeypatch.setattr(rt.settings, "shop_locale", "en_GB")
    r = await api.get("/", headers={"Accept-Language": "xx"})
    assert 'data-money-locale="en-GB"' in r.text and "US$69.00" in r.text
