from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests import factories
from tests.api.test_checkout import CARD, GUEST, NY, fill_cart, send, start, to_state
from tests.support import Api, error_code
from tillpoint.addresses.schemas import Address
from tillpoint.auth.models import User
from tillpoint.auth.session_context import SessionContext
from tillpoint.cart import service as carts
from tillpoint.checkout import service
from tillpoint.checkout.commands import (
    AddressEvent,
    CheckoutCommand,
    GuestInfoEvent,
    PaymentEvent,
    SavedMethod,
    ShippingEvent,
    SimpleEvent,
    SimpleType,
)
from tillpoint.checkout.context import Payment, stored
from tillpoint.checkout.machine import Event
from tillpoint.errors import InvalidInput
from tillpoint.ids import new_id
from tillpoint.runtime import Runtime
from tillpoint.tax.service import TaxCalculationService
from tillpoint.tax.types import TaxCalculation, TaxProviderError, TaxRequest


def _simple(kind: SimpleType) -> SimpleEvent:
    return SimpleEvent(type=kind)


async def registered_session(rt: Runtime) -> SessionContext:
    """A logged-in session built through the services (accounts land separately)."""
    uid = new_id("user")
    async with rt.db.transaction() as s:
        s.add(User(id=uid, email=f"{uid}@example.com", password_hash="x", role="customer"))
        cart = await carts.create_cart(rt, s, session_id="sess-" + uid, user_id=uid)
    p = await factories.product(rt, price=3000)
    await carts.add_item(rt, cart.id, product_id=p.id, quantity=1)
    return SessionContext(
        session_id="sess-" + uid,
        cart_id=cart.id,
        expires_at=rt.clock.now() + timedelta(days=1),
        user_id=uid,
        role="customer",
    )


async def test_registered_path_to_order_review(rt: Runtime) -> None:
    session = await registered_session(rt)
    view, created = await service.start_checkout(rt, session)
    assert created and view.state.value == "user_identification"
    view = await service.send_event(rt, session, view.id, _simple("SELECT_REGISTERED"))
    assert view.state.value == "shipping_address"
    assert view.context.user_type == "registered" and view.context.user_id == session.user_id
    view = await service.send_event(
        rt, session, view.id, AddressEvent(type="USE_BILLING_AS_SHIPPING", address=Address(**NY))
    )
    assert view.state.value == "shipping_method"
    assert stored(view.context.billing_address) == stored(view.context.shipping_address)
    assert view.context.billing_address is not None
    view = await service.send_event(
        rt, session, view.id, ShippingEvent(type="SELECT_SHIPPING", shipping_method_id="us:ground")
    )
    saved = SavedMethod(type="saved", saved_method_id="pm_saved1")
    view = await service.send_event(
        rt, session, view.id, PaymentEvent(type="SELECT_PAYMENT", payment_method=saved)
    )
    assert view.state.value == "order_review"
    assert view.totals is not None and view.totals.total == 3000 + 599 + 120 + 24
    # Signed in, the contact details are the account's: no way back to a guest's form.
    with pytest.raises(InvalidInput) as refused:
        await service.send_event(rt, session, view.id, _simple("EDIT_CONTACT"))
    assert refused.value.code == "contact_from_account"
    # the same user on another device (another session id) may read it
    other_device = SessionContext(
        "sess-other", session.cart_id, session.expires_at, session.user_id
    )
    assert (await service.get_checkout(rt, other_device, view.id)).id == view.id


async def test_login_redirect_then_login_succeeded(rt: Runtime) -> None:
    session = await registered_session(rt)
    guest = SessionContext(session.session_id, session.cart_id, session.expires_at)
    view, _ = await service.start_checkout(rt, guest)
    view = await service.send_event(rt, guest, view.id, _simple("LOGIN_REQUIRED"))
    assert view.state.value == "auth_redirect"
    try:
        await service.send_event(rt, guest, view.id, _simple("LOGIN_SUCCEEDED"))
        raise AssertionError("a guest cannot claim a login")
    except InvalidInput as exc:
        assert exc.code == "not_authenticated"
    view = await service.send_event(rt, session, view.id, _simple("LOGIN_SUCCEEDED"))
    assert view.state.value == "shipping_address" and view.context.user_type == "registered"


async def test_the_service_is_driven_by_the_typed_command_the_router_validated(
    rt: Runtime,
) -> None:
    session = await registered_session(rt)
    view, _ = await service.start_checkout(rt, session)
    await service.send_event(rt, session, view.id, _simple("SELECT_GUEST"))
    command = TypeAdapter(CheckoutCommand).validate_python({"type": "SUBMIT_GUEST_INFO", **GUEST})
    assert isinstance(command, GuestInfoEvent)
    view = await service.send_event(rt, session, view.id, command)
    assert view.state.value == "shipping_address"
    # What is saved is the command's own (normalised) guest info, without the event tag.
    assert stored(view.context.guest_info) == {
        **GUEST,
        "phone": "+12125550100",
        "marketing_consent": False,
    }


class DownTax:
    name = "stripe_tax"

    async def calculate(self, request: TaxRequest) -> TaxCalculation:
        raise TaxProviderError("connection refused")


async def test_tax_outage_shows_no_totals_and_refuses_to_confirm(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    rt.pricing = dataclasses.replace(rt.pricing, tax=TaxCalculationService(DownTax()))
    got = (await api.get(f"/api/checkout/{cid}")).json()
    assert got["context"]["totals"] is None
    assert got["context"]["errors"][0]["code"] == "tax_unavailable"
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 503 and error_code(r) == "tax_unavailable"
    assert (await api.get(f"/api/checkout/{cid}")).json()["state"] == "order_review"


_PAYMENT_MODULES = ("tillpoint.checkout.payment_steps", "tillpoint.checkout.completion")


@pytest.fixture
def without_payment_effects(app: Any, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests drive the machine's payment edges by hand, with no gateway behind
    them: the real payment effects (which ask the gateway) are set aside meanwhile."""
    kept = {
        action: tuple(h for h in handlers if h.__module__ not in _PAYMENT_MODULES)
        for action, handlers in rt.actions.items()
    }
    monkeypatch.setattr(rt, "actions", kept)


@pytest.mark.usefixtures("without_payment_effects")
async def test_payments_drive_the_machine_with_server_events(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.json()["state"] == "payment_processing"
    view = await service.apply_server_event(rt, cid, Event.PAYMENT_REQUIRES_ACTION)
    assert view.state.value == "payment_requires_action"
    assert (await send(api, cid, "ACTION_COMPLETED")).json()["state"] == "payment_processing"
    view = await service.apply_server_event(
        rt, cid, Event.PAYMENT_FAILURE, {"reason": "card_declined"}
    )
    assert view.state.value == "payment_failed"
    assert (await send(api, cid, "RETRY_PAYMENT")).json()["state"] == "payment_method"
    await send(api, cid, "SELECT_PAYMENT", payment_method=CARD)
    await send(api, cid, "CONFIRM_ORDER")
    view = await service.apply_server_event(rt, cid, Event.PAYMENT_SUCCESS)
    assert view.state.value == "payment_success"
    assert (await send(api, cid, "PROCEED_TO_CONFIRMATION")).json()["state"] == "order_confirmation"
    r = await send(api, cid, "EDIT_PAYMENT")
    assert r.status_code == 409 and r.json()["error"]["details"]["allowed_events"] == []


@pytest.mark.usefixtures("without_payment_effects")
async def test_effects_run_inside_the_step_and_can_refuse(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tillpoint.checkout.effects import EffectCall
    from tillpoint.errors import Conflict

    calls: list[Any] = []

    async def reserve(call: EffectCall) -> None:
        calls.append((call.event, call.totals.total if call.totals else None))
        if len(calls) == 1:
            raise Conflict("Out of stock.", code="out_of_stock")
        call.context.payment = Payment.model_validate({"intent": "pi_test"})

    _add_handler(monkeypatch, rt, "reserveStock", reserve)
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    body = await to_state(api, cid, "order_review")
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 409 and error_code(r) == "out_of_stock"
    assert (await api.get(f"/api/checkout/{cid}")).json()["state"] == "order_review"
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.json()["state"] == "payment_processing"
    assert r.json()["context"]["payment"] == {"intent": "pi_test"}
    assert calls[-1] == (Event.CONFIRM_ORDER, body["context"]["totals"]["total"])


def _add_handler(monkeypatch: pytest.MonkeyPatch, rt: Runtime, action: str, handler: Any) -> None:
    """Run ``handler`` after the runtime's own handlers of ``action``, for this test."""
    table = {**rt.actions, action: (*rt.actions.get(action, ()), handler)}
    monkeypatch.setattr(rt, "actions", table)


# --- the registered path over HTTP (accounts have landed) -------------------------------


async def test_registered_path_over_http_to_order_review(
    user_api: Api, rt: Runtime, new_api: Any
) -> None:
    await fill_cart(user_api, rt, price=2500, qty=1)
    cid = (await start(user_api))["id"]
    r = await send(user_api, cid, "SELECT_REGISTERED")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "shipping_address" and body["context"]["user_type"] == "registered"
    assert body["context"]["user_id"] is not None
    r = await send(user_api, cid, "USE_BILLING_AS_SHIPPING", address=NY)
    assert r.json()["state"] == "shipping_method"
    r = await send(user_api, cid, "SELECT_SHIPPING", shipping_method_id="us:next_day")
    r = await send(
        user_api,
        cid,
        "SELECT_PAYMENT",
        payment_method={"type": "saved", "saved_method_id": "pm_saved42"},
    )
    body = r.json()
    assert body["state"] == "order_review"
    assert body["context"]["totals"]["total"] == 2500 + 2999 + 100 + 120
    stranger = await new_api()
    assert (await stranger.get(f"/api/checkout/{cid}")).status_code == 404


async def test_login_from_auth_redirect_keeps_the_checkout(api: Api, rt: Runtime) -> None:
    from tests.conftest import USER_EMAIL, USER_PASSWORD
    from tillpoint.auth.service import create_user

    await create_user(rt, email=USER_EMAIL, password=USER_PASSWORD)
    await fill_cart(api, rt, price=1000, qty=3)
    cid = (await start(api))["id"]
    assert (await send(api, cid, "LOGIN_REQUIRED")).json()["state"] == "auth_redirect"
    login = await api.login(USER_EMAIL, USER_PASSWORD)
    assert login.status_code == 200, login.text
    r = await send(api, cid, "LOGIN_SUCCEEDED")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "shipping_address" and body["context"]["user_type"] == "registered"
    assert body["context"]["cart_id"] == login.json()["cart_id"]
    assert body["context"]["totals"]["subtotal"] == 3000
    got = await api.get(f"/api/checkout/{cid}")
    assert got.status_code == 200 and got.json()["version"] == body["version"]


async def test_login_that_merges_carts_repoints_the_checkout(
    api: Api, rt: Runtime, app: Any
) -> None:
    from tests.conftest import USER_EMAIL, USER_PASSWORD, make_client
    from tillpoint.auth.service import create_user

    await create_user(rt, email=USER_EMAIL, password=USER_PASSWORD)
    # the user left something in their own cart on another device
    async with make_client(app) as client:
        device = Api(client)
        await device.start()
        assert (await device.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
        await fill_cart(device, rt, price=700, qty=1)
    await fill_cart(api, rt, price=1000, qty=1)
    cid = (await start(api))["id"]
    await send(api, cid, "LOGIN_REQUIRED")
    login = await api.login(USER_EMAIL, USER_PASSWORD)
    assert login.status_code == 200, login.text
    r = await send(api, cid, "LOGIN_SUCCEEDED")
    assert r.status_code == 200, r.text
    ctx = r.json()["context"]
    assert ctx["cart_id"] == login.json()["cart_id"]
    assert ctx["totals"]["subtotal"] == 1700


async def test_expiry_runs_release_reservations_and_keeps_the_cart(
    api: Api, rt: Runtime, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tillpoint.checkout.effects import EffectCall
    from tillpoint.sweeper import run_sweep

    released: list[tuple[str, str]] = []

    async def release(call: EffectCall) -> None:
        released.append((call.checkout.id, call.source.value))

    _add_handler(monkeypatch, rt, "releaseReservations", release)
    await fill_cart(api, rt, qty=2)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    clock.advance(minutes=31)
    assert (await run_sweep(rt))["checkouts"] == 1
    assert released == [(cid, "order_review")]
    cart = (await api.get("/api/cart")).json()
    assert cart["items"][0]["quantity"] == 2


@pytest.mark.usefixtures("without_payment_effects")
async def test_a_payment_in_flight_is_not_expired_by_inactivity(
    api: Api, rt: Runtime, clock: Any
) -> None:
    from tillpoint.sweeper import run_sweep

    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    assert (await send(api, cid, "CONFIRM_ORDER")).json()["state"] == "payment_processing"
    clock.advance(hours=2)
    assert (await run_sweep(rt))["checkouts"] == 0
    view = await service.apply_server_event(rt, cid, Event.PAYMENT_SUCCESS)
    assert view.state.value == "payment_success"
    clock.advance(hours=2)
    assert (await run_sweep(rt))["checkouts"] == 0
    # the finalize path moves it on whenever the order is made
    done = await service.apply_server_event(rt, cid, Event.PROCEED_TO_CONFIRMATION)
    assert done.state.value == "order_confirmation"
