"""Security headers on every kind of response; request bodies refuse card data, control
characters, unknown fields and oversize values, and never echo what they refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import Api, error_code
from tillpoint.bootstrap import build_runtime
from tillpoint.config import CookieSecurity
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

REQUIRED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _assert_secure(r: httpx.Response) -> None:
    for name, value in REQUIRED.items():
        assert r.headers.get(name) == value, (r.status_code, name, r.headers)
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "payment=(self)" in r.headers["permissions-policy"]


async def test_headers_on_api_error_and_middleware_answers(api: Api) -> None:
    for r in [
        await api.get("/api/products"),  # 200 JSON
        await api.get("/api/nothing-here"),  # 404 from the router
        await api.post("/api/cart/items", json={}, headers={"X-CSRF-Token": "bad"}),  # 403 CSRF
        await api.post("/api/cart/items", content=b"x" * 70_000),  # 413 body limit
        await api.post("/api/cart/items", json={"quantity": "x"}),  # 422 validation
        await api.get("/healthz"),
    ]:
        _assert_secure(r)
    assert (await api.post("/api/cart/items", content=b"x" * 70_000)).status_code == 413


async def test_headers_on_an_unexpected_500(rt: Runtime) -> None:
    app = create_app(runtime=rt)

    @app.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("card 4242424242424242 exploded")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.get("/api/boom")
    assert r.status_code == 500 and error_code(r) == "internal_error"
    assert "4242" not in r.text
    _assert_secure(r)


async def test_csp_allows_the_configured_stripe_origin_and_nothing_inline(api: Api) -> None:
    csp = (await api.get("/api/products")).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self' https://js.stripe.com https://*.js.stripe.com"
    assert "https://hooks.stripe.com" in directives["frame-src"]
    assert "https://api.stripe.com" in directives["connect-src"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


async def test_stand_in_stripe_origin_and_hsts_follow_settings(rt: Runtime) -> None:
    settings = rt.settings.model_copy(
        update={
            "stripe_js_origin": "http://127.0.0.1:8420",
            "cookie_security": CookieSecurity.secure,
        }
    )
    app = create_app(runtime=build_runtime(settings, connections=(rt.db, None), clock=rt.clock))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as client:
        r = await client.get("/api/products")
    assert "script-src 'self' http://127.0.0.1:8420" in r.headers["content-security-policy"]
    assert r.headers["strict-transport-security"].startswith("max-age=63072000")


async def test_no_hsts_in_local_development(api: Api) -> None:
    assert "strict-transport-security" not in (await api.get("/api/products")).headers


async def test_docs_page_gets_headers_with_its_own_policy(api: Api) -> None:
    r = await api.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    _assert_secure(r)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline';" in csp and "https:" not in csp  # no CDN


@pytest.mark.parametrize(
    "body, path",
    [
        ({"product_id": "4242 4242 4242 4242"}, ["product_id"]),
        (
            {"product_id": "prd_x", "metadata": {"note": "4111-1111-1111-1111"}},
            ["metadata", "note"],
        ),
        ({"product_id": "prd_x", "metadata": {"5555555555554444": "key"}}, ["metadata"]),
    ],
)
async def test_card_numbers_are_refused_with_the_field_path_and_not_echoed(
    api: Api, body: dict[str, Any], path: list[str]
) -> None:
    r = await api.post("/api/cart/items", json=body)
    assert r.status_code == 422 and error_code(r) == "card_data_not_accepted"
    field = r.json()["error"]["fields"][0]
    assert field["path"] == path and field["code"] == "card_data_not_accepted"
    for digits in ("4242", "4111", "5555"):
        assert digits not in r.text


async def test_control_characters_unknown_fields_and_long_strings_are_refused(api: Api) -> None:
    r = await api.post("/api/cart/items", json={"product_id": "prd\x00x"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["code"] == "control_characters_not_allowed"
    r = await api.post("/api/cart/items", json={"product_id": "abc\u202egnp.exe"})
    assert r.status_code == 422
    r = await api.post("/api/cart/items", json={"product_id": "prd_x", "price": 1})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["price"]
    r = await api.post("/api/cart/items", json={"product_id": "p" * 41})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["product_id"]


async def test_a_phone_number_is_not_mistaken_for_a_card(api: Api) -> None:
    r = await api.post(
        "/api/cart/items", json={"product_id": "prd_x", "metadata": {"phone": "+1 555 0100 22"}}
    )
    assert error_code(r) != "card_data_not_accepted"
