from __future__ import annotations

from typing import Any

from tests import factories
from tests.support import Api, error_code


async def test_session_sets_httponly_strict_cookie_and_returns_csrf(new_api: Any) -> None:
    caller: Api = await new_api(start=False)
    r = await caller.get("/api/session")
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "guest" and body["cart_id"].startswith("cart_")
    cookies = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("tp-session="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("csrf-token="))
    assert "HttpOnly" not in csrf_cookie
    assert csrf_cookie.split(";")[0].split("=", 1)[1] == body["csrf_token"]
    assert r.headers["cache-control"] == "no-store"


async def test_same_session_is_continued(api: Api) -> None:
    again = (await api.get("/api/session")).json()
    assert again["cart_id"] == api.session["cart_id"]


async def test_state_change_without_csrf_header_is_403(api: Api, rt: Any) -> None:
    p = await factories.product(rt)
    del api.client.headers["X-CSRF-Token"]
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 1})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"


async def test_wrong_csrf_token_is_403(api: Api, rt: Any) -> None:
    p = await factories.product(rt)
    api.client.headers["X-CSRF-Token"] = api.csrf[:-2] + "xx"  # type: ignore[index]
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 1})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"


async def test_csrf_token_from_another_session_is_403(api: Api, new_api: Any, rt: Any) -> None:
    p = await factories.product(rt)
    other: Api = await new_api()
    # The attacker plants their own valid token pair in the victim's request.
    api.set_cookie("csrf-token", other.csrf)
    api.client.headers["X-CSRF-Token"] = other.csrf  # type: ignore[assignment]
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 1})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"


async def test_csrf_may_come_as_form_field(api: Api) -> None:
    token = api.client.headers.pop("X-CSRF-Token")
    r = await api.post("/api/cart/items", data={"_csrf": token, "quantity": "1"})
    # CSRF passed; the JSON endpoint then refuses the form body as invalid input.
    assert r.status_code == 422, r.text
    r = await api.post("/api/cart/items", data={"_csrf": "nope"})
    assert r.status_code == 403


async def test_webhook_paths_are_csrf_exempt(new_api: Any) -> None:
    caller: Api = await new_api(start=False)
    r = await caller.post("/api/webhooks/stripe", content=b"{}")
    assert r.status_code != 403


async def test_cart_requires_session(new_api: Any) -> None:
    caller: Api = await new_api(start=False)
    r = await caller.get("/api/cart")
    assert r.status_code == 401 and error_code(r) == "session_required"


async def test_expired_session_starts_a_new_one(api: Api, clock: Any) -> None:
    first = api.session["cart_id"]
    clock.advance(days=8)
    r = await api.get("/api/cart")
    assert r.status_code == 401
    assert (await api.start())["cart_id"] != first


async def test_guest_session_slides_with_activity_and_expires_without(
    api: Api, clock: Any, rt: Any
) -> None:
    ttl_days = rt.settings.guest_session_ttl_seconds / 86400
    # Activity before the TTL runs out moves the expiry forward (stored, not just answered).
    clock.advance(days=ttl_days - 1)
    assert (await api.get("/api/cart")).status_code == 200
    clock.advance(days=2)
    assert (await api.get("/api/cart")).status_code == 200
    # Without activity for a whole TTL the same cookie opens nothing.
    clock.advance(days=ttl_days + 1)
    r = await api.get("/api/cart")
    assert r.status_code == 401 and error_code(r) == "session_required"
