"""The admin dashboard's pages over HTTP in-process: who gets a page, a sign-in
redirect or the 403, and that none of them is ever cached (the browser tests in
tests/e2e/test_admin_dashboard.py drive them for real)."""

from __future__ import annotations

import pytest

from tests.support import Api
from tillpoint.config import Settings
from tillpoint.security.headers import security_headers

PAGES = [
    "/admin",
    "/admin/orders",
    "/admin/orders/ord_123",
    "/admin/products",
    "/admin/products/prod_123",
    "/admin/coupons",
    "/admin/webhooks",
    "/admin/webhooks/whe_123",
    "/admin/api-keys",
    "/admin/audit",
]


@pytest.mark.parametrize("path", PAGES)
async def test_an_anonymous_visitor_is_sent_to_sign_in_with_the_page_to_return_to(
    api: Api, path: str
) -> None:
    r = await api.client.get(path + "?q=a%26b", follow_redirects=False)
    assert r.status_code == 303
    assert (
        r.headers["location"] == "/admin/login?next=" + path.replace("/", "%2F") + "%3Fq%3Da%2526b"
    )
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", PAGES)
async def test_a_shopper_gets_the_not_an_admin_page_with_403(user_api: Api, path: str) -> None:
    r = await user_api.client.get(path)
    assert r.status_code == 403
    assert "This account is not an admin" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert 'aria-label="Admin"' not in r.text  # no admin nav for a shopper


@pytest.mark.parametrize("path", PAGES)
async def test_an_admin_gets_the_page_uncached_with_its_forms_token(
    admin_api: Api, path: str
) -> None:
    r = await admin_api.client.get(path)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    token = admin_api.client.cookies.get("csrf-token")
    assert token and f'name="_csrf" value="{token}"' in r.text
    assert '<script type="module" src="/admin/static/js/admin.js">' in r.text


async def test_after_signing_out_the_pages_send_to_sign_in_again(admin_api: Api) -> None:
    assert (await admin_api.client.get("/admin")).status_code == 200
    await admin_api.logout()
    r = await admin_api.client.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login?next=%2Fadmin"


async def test_sign_in_page_is_open_to_all_and_uncached(api: Api) -> None:
    r = await api.client.get("/admin/login?next=%2F%2Fevil.example")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert "evil.example" not in r.text  # ``next`` is read by the script, never echoed


async def test_malformed_ids_are_not_found(admin_api: Api) -> None:
    r = await admin_api.client.get("/admin/orders/not%20an%20id")
    assert r.status_code in (404, 422)


async def test_admin_assets_are_served_apart_and_revalidated(api: Api) -> None:
    r = await api.client.get("/admin/static/js/admin.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.headers["cache-control"] == "no-cache"
    assert (await api.client.get("/static/admin.css")).status_code == 404


def test_the_security_headers_keep_admin_and_account_paths_private(settings: Settings) -> None:
    headers = security_headers(settings)
    for path in ("/admin", "/admin/orders/ord_1", "/account/login", "/api/admin/products"):
        assert (b"cache-control", b"no-store") in headers.for_path(path)
    assert (b"cache-control", b"no-cache") in headers.for_path("/")
