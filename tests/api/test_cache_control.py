"""No answer that is personal or authenticated may be kept by a browser or a shared cache:
every route of the app, walked as a logged-in admin, answers ``Cache-Control: no-store``,
except the public catalog answers that say on purpose how they may be cached."""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_checkout import fill_cart, start, to_state
from tests.support import Api
from tillpoint.runtime import Runtime

# The answers that are the same for everyone and set their own Cache-Control.
PUBLIC = {
    ("GET", "/"),
    ("GET", "/api/products"),
    ("GET", "/api/products/{product_id}"),
    ("GET", "/products/{slug}"),
    ("GET", "/api/addresses/rules/{country_code}"),
}


def _routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, included routers flattened."""
    found: list[tuple[str, str]] = []
    pending = list(app.routes)
    while pending:
        route = pending.pop(0)
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
            continue
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                found.append((method, str(route.path)))
    return found


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


def _no_store(r: Any) -> bool:
    return "no-store" in r.headers.get("cache-control", "")


async def test_every_answer_but_the_public_catalog_says_no_store(admin_api: Api, app: Any) -> None:
    routes = _routes(app)
    assert len(routes) > 40  # the walk found the routers' routes, not only the app's own
    # Reads first, then writes; the auth writes (logout) last, so the session lives longest.
    routes.sort(key=lambda mr: (mr[0] != "GET", mr[1].startswith("/api/auth")))
    cached = []
    for method, template in routes:
        if (method, template) in PUBLIC:
            continue
        body = None if method in ("GET", "DELETE") else {}
        r = await admin_api.request(method, _concrete(template), json=body)
        if not _no_store(r):
            cached.append((method, template, r.status_code, r.headers.get("cache-control")))
    assert cached == []


async def test_the_personal_answers_named_in_the_issue_say_no_store(
    admin_api: Api, api: Api, rt: Runtime
) -> None:
    await fill_cart(api, rt)
    cid = str((await start(api))["id"])
    await to_state(api, cid, "shipping_method")
    answers = [
        await api.get(f"/api/checkout/{cid}/shipping-options"),
        await admin_api.get("/api/payment/methods"),
        await admin_api.get("/api/auth/me"),
        await admin_api.get("/api/orders"),
        await admin_api.get("/api/admin/coupons"),
        await admin_api.get("/api/admin/audit-logs"),
        await admin_api.get("/api/admin/inventory"),
        await api.get("/cart"),
        await api.get("/checkout"),
        await api.get("/orders/ord_x"),
    ]
    assert {r.status_code for r in answers} == {200}
    assert [(r.url.path, r.headers.get("cache-control")) for r in answers if not _no_store(r)] == []


async def test_the_public_catalog_answers_stay_cacheable(api: Api) -> None:
    for path in ("/", "/api/products", "/api/addresses/rules/US"):
        r = await api.get(path)
        assert r.status_code == 200 and not _no_store(r), (path, r.headers.get("cache-control"))
