"""A request with two cookies of one of our names is refused (the CSRF check and the
handler could otherwise read different ones), and a state-changing request whose
``Origin`` (or ``Referer``) names another site is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests import factories
from tests.support import Api, error_code
from tillpoint.bootstrap import build_runtime
from tillpoint.config import CookieSecurity
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app


def _pair(caller: Api) -> tuple[str, str]:
    """A caller's session cookie and CSRF token (local cookie names)."""
    return str(caller.client.cookies.get("tp-session")), str(caller.csrf)


async def _bare(new_api: Any) -> httpx.AsyncClient:
    """A client with an empty cookie jar: the test writes the Cookie header itself."""
    caller: Api = await new_api(start=False)
    return caller.client


async def _cart_quantity(caller: Api) -> int:
    return sum(line["quantity"] for line in (await caller.get("/api/cart")).json()["items"])


async def test_an_injected_second_session_cookie_cannot_act_on_the_victim(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    product = await factories.product(rt)
    attacker: Api = await new_api()
    victim_session, _ = _pair(api)
    attacker_session, attacker_csrf = _pair(attacker)
    # The attacker's valid pair first (the CSRF check read the first), the victim's
    # own session cookie last (the handler read the last).
    cookie = (
        f"tp-session={attacker_session}; csrf-token={attacker_csrf}; tp-session={victim_session}"
    )
    client = await _bare(new_api)
    r = await client.post(
        "/api/cart/items",
        json={"product_id": product.id, "quantity": 1},
        headers={"Cookie": cookie, "X-CSRF-Token": attacker_csrf},
    )
    assert r.status_code == 400 and error_code(r) == "ambiguous_cookies", r.text
    assert r.json()["error"]["details"] == {"cookies": ["tp-session"]}
    assert await _cart_quantity(api) == 0 and await _cart_quantity(attacker) == 0


async def test_every_cookie_we_read_may_come_once_across_all_cookie_headers(
    api: Api, new_api: Any
) -> None:
    session, csrf = _pair(api)
    client = await _bare(new_api)
    for headers in (
        [("cookie", f"tp-session={session}; csrf-token={csrf}; csrf-token={csrf}")],
        [("cookie", f"tp-session={session}"), ("cookie", f"tp-session={session}")],
        [("cookie", f"tp-session={session}; tp-access=a; tp-access=b")],
        [("cookie", f'tp-session={session}; tp-refresh=a; tp-refresh="a"')],
    ):
        r = await client.get("/api/cart", headers=headers)  # reads are refused too
        assert r.status_code == 400 and error_code(r) == "ambiguous_cookies", headers
    # Somebody else's duplicated cookie (say, an analytics one) is not ours to judge.
    r = await client.get("/api/cart", headers={"Cookie": f"tp-session={session}; _ga=1; _ga=2"})
    assert r.status_code == 200


@pytest.fixture
async def client_for(rt: Runtime) -> AsyncIterator[Callable[..., Api]]:
    """A started caller of an app over the test's database with these settings changed."""
    clients: list[httpx.AsyncClient] = []

    async def make(base_url: str = "http://testserver", **overrides: Any) -> Api:
        settings = rt.settings.model_copy(update=overrides)
        app = create_app(runtime=build_runtime(settings, connections=(rt.db, None), clock=rt.clock))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        clients.append(client)
        caller = Api(client)
        await caller.start()
        return caller

    yield make
    for client in clients:
        await client.aclose()


async def test_secure_names_are_guarded_and_the_plain_ones_ignored(client_for: Any) -> None:
    caller = await client_for("https://testserver", cookie_security=CookieSecurity.secure)
    session = str(caller.client.cookies.get("__Host-tp-session"))
    caller.client.cookies.clear()
    r = await caller.get(
        "/api/cart", headers={"Cookie": f"__Host-tp-session={session}; __Host-tp-session=x"}
    )
    assert r.status_code == 400 and error_code(r) == "ambiguous_cookies"
    # In secure mode the plain name is never read: beside the real one it changes nothing.
    r = await caller.get(
        "/api/cart", headers={"Cookie": f"__Host-tp-session={session}; tp-session=x"}
    )
    assert r.status_code == 200


async def _add(caller: Api, product_id: str, **headers: str) -> httpx.Response:
    body = {"product_id": product_id, "quantity": 1}
    return await caller.post("/api/cart/items", json=body, headers=headers)


async def test_a_write_from_another_sites_page_is_refused(api: Api, rt: Runtime) -> None:
    product = await factories.product(rt)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a privacy redirect: no page of ours
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "http://testserver:8080"},  # another port is another origin
        {"Referer": "https://evil.example/shop"},  # no Origin: the Referer's origin
    ):
        r = await _add(api, product.id, **headers)
        assert r.status_code == 403 and error_code(r) == "origin_not_allowed", headers
    assert await _cart_quantity(api) == 0
    # Reads are not checked; our own page, and clients that send neither header, are fine.
    assert (await api.get("/api/cart", headers={"Origin": "https://evil.example"})).is_success
    assert (await _add(api, product.id, Origin="http://testserver")).status_code == 200
    assert (await _add(api, product.id, Referer="http://testserver/checkout")).status_code == 200
    assert (await _add(api, product.id)).status_code == 200
    assert await _cart_quantity(api) == 3


async def test_the_configured_origins_may_write(client_for: Any, rt: Runtime) -> None:
    product = await factories.product(rt)
    based = await client_for(public_base_url="https://shop.example.com", allowed_hosts="testserver")
    assert (await _add(based, product.id, Origin="https://shop.example.com")).status_code == 200
    listed = await client_for(allowed_origins="https://admin.example.com")
    assert (await _add(listed, product.id, Origin="https://admin.example.com")).status_code == 200
    r = await _add(listed, product.id, Origin="https://shop.example.com")
    assert r.status_code == 403 and error_code(r) == "origin_not_allowed"


async def test_signed_webhooks_are_not_origin_checked(api: Api) -> None:
    r = await api.post(
        "/api/webhooks/stripe", content=b"{}", headers={"Origin": "https://evil.example"}
    )
    assert r.status_code != 403 and error_code(r) != "origin_not_allowed"
