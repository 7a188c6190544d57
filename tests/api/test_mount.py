"""tillpoint mounted in-process under ``/shop`` of a host FastAPI app (``mount_tillpoint``):
the host's routes still answer, tillpoint's API, pages, cookies, CSRF and docs work under
the prefix, and none of tillpoint's routes answers at the root."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.factories import demo_catalog
from tests.support import Api, error_code
from tillpoint.auth.service import create_user
from tillpoint.config import Settings, load_settings
from tillpoint.mail.render import absolute_url
from tillpoint.runtime import Runtime
from tillpoint.web.mount import mount_tillpoint

PREFIX = "/shop"
# Every link, form, script and stylesheet address a page names.
ADDRESSES = re.compile(r'(?:href|src|action)="([^"#]*)"')


class Mounted:
    """The host app, the tillpoint app mounted in it, and a client of the host."""

    def __init__(self, host: FastAPI, tillpoint: FastAPI, client: httpx.AsyncClient) -> None:
        self.host = host
        self.tillpoint = tillpoint
        self.client = client

    def shopper(self) -> Api:
        """A browser-like caller of tillpoint's API under the prefix (same cookie jar)."""
        return Api(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.host),
                base_url=f"http://testserver{PREFIX}",
                cookies=self.client.cookies,
            )
        )


def host_app() -> FastAPI:
    host = FastAPI(title="host shop")

    @host.get("/")
    async def home() -> dict[str, str]:
        return {"shop": "host"}

    @host.get("/products/mug")
    async def mug() -> dict[str, str]:
        return {"product": "host mug"}

    return host


@pytest.fixture
async def mounted(settings: Settings, rt: Runtime) -> AsyncIterator[Mounted]:
    """tillpoint built from settings alone (its runtime opened by the host's lifespan)."""
    await demo_catalog(rt)
    host = host_app()
    tillpoint = mount_tillpoint(host, PREFIX, settings=settings)
    assert not hasattr(tillpoint.state, "runtime")  # nothing starts before the host does
    async with (
        host.router.lifespan_context(host),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=host), base_url="http://testserver"
        ) as client,
    ):
        yield Mounted(host, tillpoint, client)
    assert tillpoint.state.runtime.db.engine.pool.checkedout() == 0


async def test_the_host_lifespan_starts_tillpoint_and_its_own_routes_still_answer(
    mounted: Mounted,
) -> None:
    assert isinstance(mounted.tillpoint.state.runtime, Runtime)
    assert (await mounted.client.get("/")).json() == {"shop": "host"}
    assert (await mounted.client.get("/products/mug")).json() == {"product": "host mug"}
    r = await mounted.client.get(f"{PREFIX}/api/products")
    assert r.status_code == 200 and len(r.json()["items"]) > 0
    assert (await mounted.client.get(f"{PREFIX}/healthz")).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/api/session", "/api/products", "/static/app.css", "/admin", "/cart", "/healthz"],
)
async def test_no_tillpoint_route_answers_at_the_root(mounted: Mounted, path: str) -> None:
    r = await mounted.client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "set-cookie" not in r.headers
    paths = (await mounted.client.get("/openapi.json")).json()["paths"]
    assert set(paths) == {"/", "/products/mug"}  # the host's schema is the host's


async def test_api_with_cookies_and_csrf_under_the_prefix(mounted: Mounted) -> None:
    async with mounted.shopper().client as client:
        caller = Api(client)
        r = await client.get("/api/session")
        assert r.status_code == 200
        cookies = r.headers.get_list("set-cookie")
        assert {c.split("=", 1)[0] for c in cookies} == {"tp-session", "csrf-token"}
        caller.csrf = r.json()["csrf_token"]
        products = (await client.get("/api/products")).json()["items"]
        body = {"product_id": products[0]["id"], "quantity": 2}

        refused = await client.post("/api/cart/items", json=body)  # no CSRF header
        assert refused.status_code == 403 and error_code(refused) == "csrf_failed"
        headers = {"X-CSRF-Token": caller.csrf}
        foreign = await client.post(
            "/api/cart/items", json=body, headers={**headers, "Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and error_code(foreign) == "origin_not_allowed"

        own = {**headers, "Origin": "http://testserver"}
        added = await client.post("/api/cart/items", json=body, headers=own)
        assert added.status_code in (200, 201), added.text
        assert added.json()["totals"]["item_count"] == 2
        started = await client.post("/api/checkout", json={}, headers=own)
        assert started.status_code in (200, 201), started.text
        assert started.json()["state"]
    # The host saw none of it: its own root still has no tillpoint cookie name to refuse.
    assert (await mounted.client.get("/")).status_code == 200


async def test_the_refresh_cookie_is_scoped_to_the_prefixed_auth_routes(
    mounted: Mounted, rt: Runtime
) -> None:
    await create_user(rt, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin")
    async with mounted.shopper().client as client:
        caller = Api(client)
        await caller.start()
        r = await caller.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert r.status_code == 200, r.text
        refresh = [c for c in r.headers.get_list("set-cookie") if c.startswith("tp-refresh=")]
        assert len(refresh) == 1 and "Path=/shop/api/auth" in refresh[0]
        # The jar sends it to /shop/api/auth/refresh only, and the exchange works there.
        renewed = await client.post("/api/auth/refresh")
        assert renewed.status_code == 200, renewed.text
        assert (await client.get("/api/admin/orders")).status_code == 200
        out = await caller.logout()
        cleared = [c for c in out.headers.get_list("set-cookie") if c.startswith("tp-refresh=")]
        assert cleared and "Path=/shop/api/auth" in cleared[0]


@pytest.mark.parametrize("page", ["/", "/cart", "/checkout", "/account/login", "/admin/login"])
async def test_every_address_a_page_names_is_under_the_prefix_and_served(
    mounted: Mounted, page: str
) -> None:
    r = await mounted.client.get(PREFIX + page)
    assert r.status_code == 200, r.text
    assert f'data-base-path="{PREFIX}"' in r.text
    addresses = [a for a in ADDRESSES.findall(r.text) if a.startswith("/")]
    assert addresses, page
    outside = [a for a in addresses if not a.startswith(PREFIX + "/")]
    assert outside == [], (page, outside)
    for address in addresses:
        if "/static/" in address:  # the page's own CSS and JS load from there
            asset = await mounted.client.get(address)
            assert asset.status_code == 200, address


async def test_the_admin_sends_an_anonymous_visitor_to_the_prefixed_sign_in(
    mounted: Mounted,
) -> None:
    r = await mounted.client.get(f"{PREFIX}/admin/orders")
    assert r.status_code == 303
    assert r.headers["location"] == "/shop/admin/login?next=%2Fshop%2Fadmin%2Forders"


async def test_slash_redirects_keep_the_prefix(mounted: Mounted) -> None:
    r = await mounted.client.get(f"{PREFIX}/api/products/?limit=1")
    assert r.status_code == 307
    assert r.headers["location"] == "/shop/api/products?limit=1"


async def test_the_api_docs_call_the_api_under_the_prefix(mounted: Mounted) -> None:
    schema = (await mounted.client.get(f"{PREFIX}/openapi.json")).json()
    assert schema["servers"] == [{"url": PREFIX}]
    assert "/api/session" in schema["paths"]
    page = (await mounted.client.get(f"{PREFIX}/docs")).text
    assert "/shop/openapi.json" in page and "/shop/docs/assets/swagger-ui-bundle.js" in page
    bundle = await mounted.client.get(f"{PREFIX}/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200


async def test_rules_keyed_by_path_still_apply_under_the_prefix(mounted: Mounted) -> None:
    # Security headers are chosen by tillpoint's own path: the public catalog may be
    # revalidated from a cache, the cart may not; framing is refused everywhere.
    catalog = await mounted.client.get(f"{PREFIX}/api/products")
    assert catalog.headers["cache-control"] == "no-cache"
    cart = await mounted.client.get(f"{PREFIX}/cart")
    assert cart.headers["cache-control"] == "no-store"
    assert cart.headers["x-frame-options"] == "DENY"
    # A webhook is exempt from CSRF under the prefix too (its signature is its check).
    hook = await mounted.client.post(f"{PREFIX}/api/webhooks/stripe", content=b"{}")
    assert error_code(hook) == "webhook_signature_missing", hook.text


def test_a_mount_path_must_be_a_plain_prefix(settings: Settings) -> None:
    for bad in ("", "/", "shop", "/shop/", "//shop"):
        with pytest.raises(ValueError, match="mount path"):
            mount_tillpoint(host_app(), bad, settings=settings)


async def test_a_public_base_url_with_the_mount_path_shapes_every_absolute_url(
    settings: Settings,
) -> None:
    based = load_settings(
        mode="test",
        database_url=settings.database_url,
        secret_key=settings.resolved_secret_key,
        background_tasks=False,
        public_base_url="http://testserver/shop/",
    )
    assert based.public_base_url == "http://testserver/shop"
    assert based.resolved_allowed_origins == ("http://testserver",)
    # E-mail links (orders, password resets, verifications) start with the mount path.
    link = absolute_url(based, "/orders/ord_1?token=t")
    assert link == "http://testserver/shop/orders/ord_1?token=t"
    host = host_app()
    mount_tillpoint(host, PREFIX, settings=based)
    async with (
        host.router.lifespan_context(host),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=host), base_url="http://testserver"
        ) as client,
    ):
        # The slash redirect names the configured origin once and the path once.
        r = await client.get(f"{PREFIX}/api/products/")
        assert r.status_code == 307
        assert r.headers["location"] == "http://testserver/shop/api/products"
    with pytest.raises(ValueError, match="no query"):
        load_settings(public_base_url="https://shop.example.com/shop?x=1")
