"""The account area's API: saved addresses owned per user (another user's id is a 404,
never a leak) and "buy again" (an order's still-available lines back into the cart,
with the reasons the others were not)."""

from __future__ import annotations

from typing import Any

from tests.inventory_support import stocked
from tests.support import Api, error_code
from tillpoint.catalog.models import Product
from tillpoint.ids import new_id
from tillpoint.orders.service import LineDraft, OrderDraft, insert_order_rows
from tillpoint.payments.gateway import CreateIntent
from tillpoint.runtime import Runtime

HOME = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street1": "1 Main St",
    "city": "Springfield",
    "state": "il",
    "zip_code": "62701",
    "country": "us",
}


async def test_addresses_are_saved_standardised_listed_and_deleted(user_api: Api) -> None:
    r = await user_api.post("/api/account/addresses", json=HOME)
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["id"].startswith("adr_")
    assert saved["address"]["state"] == "IL" and saved["address"]["country"] == "US"
    listed = (await user_api.get("/api/account/addresses")).json()["items"]
    assert [a["id"] for a in listed] == [saved["id"]]
    gone = await user_api.request("DELETE", f"/api/account/addresses/{saved['id']}")
    assert gone.status_code == 204
    assert (await user_api.get("/api/account/addresses")).json()["items"] == []


async def test_a_bad_address_is_refused_field_by_field(user_api: Api) -> None:
    r = await user_api.post("/api/account/addresses", json={**HOME, "zip_code": "ABC"})
    assert r.status_code == 422 and error_code(r) == "invalid_address"
    assert r.json()["error"]["fields"][0]["path"] == ["address", "zip_code"]
    r = await user_api.post("/api/account/addresses", json={**HOME, "role": "admin"})
    assert r.status_code == 422


async def test_another_users_address_is_not_found(user_api: Api, new_api: Any) -> None:
    saved = (await user_api.post("/api/account/addresses", json=HOME)).json()
    other: Api = await new_api()
    assert (await other.register("other@shop.example.com", "plum-orchard-lantern-7")).is_success
    r = await other.request("DELETE", f"/api/account/addresses/{saved['id']}")
    assert r.status_code == 404 and error_code(r) == "address_not_found"
    never = await other.request("DELETE", f"/api/account/addresses/{new_id('adr')}")
    assert never.json() == r.json()  # the same answer as an id that never existed
    assert (await other.get("/api/account/addresses")).json()["items"] == []
    assert len((await user_api.get("/api/account/addresses")).json()["items"]) == 1


async def test_guests_have_no_address_book(api: Api) -> None:
    r = await api.get("/api/account/addresses")
    assert r.status_code == 401 and error_code(r) == "login_required"


def _gateway(api: Api) -> Any:
    return api.client._transport.app.state.gateway  # type: ignore[attr-defined]


async def _order_of(rt: Runtime, api: Api, user_id: str, lines: list[tuple[Product, int]]) -> str:
    """A paid order of ``user_id`` for these products (the real insert, a sandbox payment)."""
    drafts = tuple(
        LineDraft(p.id, None, p.name, q, p.price, p.price * q, 0, 0, p.price * q) for p, q in lines
    )
    total = sum(d.total for d in drafts)
    checkout = new_id("chk")
    intent = await _gateway(api).create_payment_intent(
        CreateIntent(
            amount=total,
            currency="USD",
            idempotency_key=f"{checkout}:1:pay",
            payment_method_id="pm_card_visa",
            confirm=True,
        )
    )
    draft = OrderDraft(
        checkout_id=checkout, currency="USD", subtotal=total, discount_total=0,
        shipping_total=0, tax_total=0, total=total, lines=drafts, user_id=user_id,
        email="customer@shop.example.com",
    )  # fmt: skip
    async with rt.db.transaction() as s:
        inserted = await insert_order_rows(
            s, rt.settings, draft, intent, gateway=_gateway(api).name, held_for_review=False,
            now=rt.clock.now(),
        )  # fmt: skip
    return inserted.id


async def test_buy_again_adds_what_is_in_stock_and_says_what_is_not(
    user_api: Api, rt: Runtime
) -> None:
    tea = await stocked(rt, 10, name="Tea", currency="USD")
    mug = await stocked(rt, 0, name="Mug", currency="USD")
    me = (await user_api.get("/api/auth/me")).json()
    order_id = await _order_of(rt, user_api, me["id"], [(tea, 2), (mug, 1)])
    r = await user_api.post(f"/api/orders/{order_id}/buy-again")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(line["name"], line["quantity"]) for line in body["added"]] == [("Tea", 2)]
    [refused] = body["not_added"]
    assert refused["name"] == "Mug" and refused["code"] == "out_of_stock"
    assert refused["reason"] == "Not enough in stock right now."
    cart = (await user_api.get("/api/cart")).json()
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [(tea.id, 2)]


async def test_buy_again_of_another_users_order_is_not_found(
    user_api: Api, new_api: Any, rt: Runtime
) -> None:
    tea = await stocked(rt, 10, name="Tea", currency="USD")
    me = (await user_api.get("/api/auth/me")).json()
    order_id = await _order_of(rt, user_api, me["id"], [(tea, 1)])
    other: Api = await new_api()
    assert (await other.register("other@shop.example.com", "plum-orchard-lantern-7")).is_success
    r = await other.post(f"/api/orders/{order_id}/buy-again")
    assert r.status_code == 404 and error_code(r) == "order_not_found"
    assert (await other.get(f"/api/orders/{order_id}")).status_code == 404
    assert (await other.get("/api/cart")).json()["items"] == []


ACCOUNT_PAGES = [
    "/account",
    "/account/login",
    "/account/register",
    "/account/forgot",
    "/account/reset",
    "/account/verify",
]


async def test_every_page_header_links_to_the_account_area(api: Api) -> None:
    for path in ["/", "/cart", "/checkout", f"/orders/{new_id('ord')}", *ACCOUNT_PAGES]:
        r = await api.get(path)
        assert r.status_code == 200, path
        for link in ('href="/account/login"', 'href="/account/register"', 'href="/account/forgot"'):
            assert link in r.text, (path, link)
        assert "data-sign-out" in r.text and 'href="/account"' in r.text
        assert r.headers["Cache-Control"] == "no-store" or path == "/"


async def test_password_hint_states_the_rule_in_force(api: Api, rt: Runtime) -> None:
    minimum = rt.settings.password_min_length
    for path in ("/account/register", "/account/reset"):
        page = (await api.get(path)).text
        assert f"At least {minimum} characters" in page and f'minlength="{minimum}"' in page
