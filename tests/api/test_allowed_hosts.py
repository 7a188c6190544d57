"""The ``Host`` header is checked against the allowed hosts, and no redirect is ever built
from it: a redirect points at the configured public base URL, or is relative."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.api.test_cache_control import _routes
from tests.support import LIVE_PRODUCTION, error_code
from tillpoint.bootstrap import build_runtime
from tillpoint.config import load_settings
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app
from tillpoint.web.redirects import _toggled

BASE_URL = "https://shop.example.com"


@pytest.fixture
async def client_for(rt: Runtime) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """A client of an app over the test's database with these settings changed."""
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: Any) -> httpx.AsyncClient:
        settings = rt.settings.model_copy(update=overrides)
        app = create_app(runtime=build_runtime(settings, connections=(rt.db, None), clock=rt.clock))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_a_foreign_host_is_refused_instead_of_redirected_to(client_for: Any) -> None:
    client = client_for()
    for path in ("/api/products/", "/api/products", "/checkout"):
        r = await client.get(path, headers={"Host": "evil.example"})
        assert r.status_code == 400 and error_code(r) == "host_not_allowed", (path, r.headers)
        assert "location" not in r.headers


async def test_development_hosts_are_allowed_by_default(client_for: Any) -> None:
    client = client_for()
    for host in ("testserver", "localhost", "localhost:8000", "127.0.0.1:51234", "[::1]:8000"):
        r = await client.get("/api/products", headers={"Host": host})
        assert r.status_code == 200, (host, r.text)


async def test_health_checks_answer_whatever_host_the_balancer_sends(client_for: Any) -> None:
    client = client_for()
    for path in ("/healthz", "/readyz"):
        assert (await client.get(path, headers={"Host": "10.1.2.3:8000"})).status_code == 200


async def test_without_a_base_url_a_slash_redirect_is_relative(client_for: Any) -> None:
    client = client_for()
    r = await client.get("/api/products/?limit=5", headers={"Host": "localhost:8000"})
    assert r.status_code == 307 and r.headers["location"] == "/api/products?limit=5"


async def test_a_slash_redirect_points_at_the_public_base_url(client_for: Any) -> None:
    client = client_for(public_base_url=BASE_URL, allowed_hosts="shop.example.com,10.0.0.5")
    for host in ("shop.example.com", "10.0.0.5:8000"):
        r = await client.get("/api/products/?limit=5", headers={"Host": host})
        assert r.status_code == 307, r.text
        assert r.headers["location"] == f"{BASE_URL}/api/products?limit=5"
    r = await client.get("/api/products", headers={"Host": "testserver"})
    assert r.status_code == 400 and error_code(r) == "host_not_allowed"


async def test_no_redirect_of_any_route_is_built_from_the_host_header(client_for: Any) -> None:
    plain, based = client_for(), client_for(public_base_url=BASE_URL, allowed_hosts="localhost")
    redirects = 0
    for method, template in _routes(plain._transport.app):  # type: ignore[attr-defined]
        path = re.sub(r"\{[^}]+\}", "x1", template)
        toggled = path.rstrip("/") if path.endswith("/") else path + "/"
        for client, expected in ((plain, ""), (based, BASE_URL)):
            r = await client.request(method, toggled, headers={"Host": "localhost"})
            if 300 <= r.status_code < 400:
                redirects += 1
                assert r.headers["location"] == expected + path, (method, toggled)
    assert redirects > 20  # the walk did reach the slash redirects


def test_production_needs_a_public_base_url_and_allows_only_its_host() -> None:
    live = {**LIVE_PRODUCTION, "public_base_url": BASE_URL}
    with pytest.raises(ValidationError, match="TILLPOINT_PUBLIC_BASE_URL"):
        load_settings(**{**live, "public_base_url": None})
    settings = load_settings(**live)
    assert settings.resolved_allowed_hosts == ("shop.example.com",)
    with pytest.raises(ValidationError):
        load_settings(public_base_url="shop.example.com")  # not a URL
    with pytest.raises(ValidationError):
        load_settings(public_base_url="https://shop.example.com/shop?x=1")


def test_a_slash_redirect_never_becomes_a_protocol_relative_url() -> None:
    assert _toggled({"path": "/api/products/", "root_path": ""}) == "/api/products"
    assert _toggled({"path": "/shop/api/products", "root_path": "/shop"}) == "/shop/api/products/"
    assert _toggled({"path": "//evil.example/", "root_path": ""}) is None  # "//evil.example"
    assert _toggled({"path": "/", "root_path": ""}) is None
