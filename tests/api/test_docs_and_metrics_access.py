"""Who may read the API docs and ``/metrics``: docs off in production unless a setting says
otherwise (or admin-only), served from the package (no CDN); metrics only from an allowed
network or with the metrics token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.support import LIVE_PRODUCTION, Api, error_code
from tillpoint.auth.service import create_user
from tillpoint.bootstrap import build_runtime
from tillpoint.config import Mode
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

DOCS = ("/docs", "/redoc", "/openapi.json")
TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
async def caller_for(rt: Runtime) -> AsyncIterator[Callable[..., Api]]:
    """A caller (from ``peer``) of an app over the test's database with settings changed."""
    clients: list[httpx.AsyncClient] = []

    def make(peer: str = "127.0.0.1", base_url: str = "http://testserver", **overrides: Any) -> Api:
        settings = rt.settings.model_copy(update=overrides)
        app = create_app(runtime=build_runtime(settings, connections=(rt.db, None), clock=rt.clock))
        transport = httpx.ASGITransport(app=app, client=(peer, 5000))
        client = httpx.AsyncClient(transport=transport, base_url=base_url)
        clients.append(client)
        return Api(client)

    yield make
    for client in clients:
        await client.aclose()


async def test_production_serves_no_docs_by_default(caller_for: Any) -> None:
    caller = caller_for(
        base_url="https://shop.example.com", **{**LIVE_PRODUCTION, "mode": Mode.production}
    )
    for path in DOCS:
        r = await caller.get(path)
        assert r.status_code == 404, (path, r.status_code)
    assert (await caller.get("/api/products")).status_code == 200


async def test_admin_only_docs_need_an_admin_session(caller_for: Any, rt: Runtime) -> None:
    await create_user(rt, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin")
    anonymous, guest, admin = (caller_for(api_docs="admin") for _ in range(3))
    for path in DOCS:
        assert (await anonymous.get(path)).status_code == 401, path
    await guest.start()
    for path in DOCS:
        r = await guest.get(path)
        assert r.status_code == 401 and error_code(r) == "login_required", path
    await admin.start()
    assert (await admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200
    for path in DOCS:
        assert (await admin.get(path)).status_code == 200, path
    assert "/api/cart/items" in (await admin.get("/openapi.json")).json()["paths"]


async def test_the_docs_pages_load_their_scripts_from_the_shop_not_a_cdn(api: Api) -> None:
    for page, assets in (
        ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
        ("/redoc", ("redoc.standalone.js",)),
    ):
        r = await api.get(page)
        assert r.status_code == 200 and "cdn." not in r.text and "fonts.googleapis" not in r.text
        assert "cdn." not in r.headers["content-security-policy"]
        for name in assets:
            assert f'"/docs/assets/{name}"' in r.text, (page, name)
            asset = await api.get(f"/docs/assets/{name}")
            assert asset.status_code == 200 and len(asset.content) > 100_000, name


async def test_metrics_answer_loopback_and_refuse_everyone_else(caller_for: Any) -> None:
    assert (await caller_for("127.0.0.1").get("/metrics")).status_code == 200
    assert (await caller_for("::1").get("/metrics")).status_code == 200
    r = await caller_for("203.0.113.9").get("/metrics")
    assert r.status_code == 403 and error_code(r) == "metrics_forbidden"
    assert "tillpoint_requests_total" not in r.text
    # Relayed by a proxy we were not told to trust: the real client is unknown.
    r = await caller_for("127.0.0.1").get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 403 and error_code(r) == "metrics_forbidden"


async def test_metrics_follow_the_allowed_networks_and_the_token(caller_for: Any) -> None:
    behind_proxy = caller_for(
        "10.0.0.2", trusted_proxies="10.0.0.2/32", metrics_allowed_networks="192.168.7.0/24"
    )
    scraper = {"X-Forwarded-For": "192.168.7.20"}
    assert (await behind_proxy.get("/metrics", headers=scraper)).status_code == 200
    outsider = {"X-Forwarded-For": "203.0.113.9"}
    assert (await behind_proxy.get("/metrics", headers=outsider)).status_code == 403
    remote = caller_for("203.0.113.9", metrics_token=TOKEN, metrics_allowed_networks="")
    assert (await remote.get("/metrics")).status_code == 403
    wrong = {"Authorization": f"Bearer {TOKEN}x"}
    assert (await remote.get("/metrics", headers=wrong)).status_code == 403
    good = {"Authorization": f"Bearer {TOKEN}"}
    r = await remote.get("/metrics", headers=good)
    assert r.status_code == 200 and "tillpoint_requests_total" in r.text
    local = caller_for("127.0.0.1", metrics_allowed_networks="")
    assert (await local.get("/metrics")).status_code == 403  # no network, no token: nobody
