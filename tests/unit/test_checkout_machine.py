from __future__ import annotations

import itertools

import pytest

from tillpoint.checkout import machine
from tillpoint.checkout.actions import ACTIONS, apply_actions, new_context
from tillpoint.checkout.context import CheckoutContext
from tillpoint.checkout.machine import (
    FINAL,
    SERVER_EVENTS,
    TRANSITIONS,
    Event,
    Facts,
    GuardRejected,
    NotAllowed,
    State,
)
from tillpoint.errors import FieldError

# Facts under which every guard passes, per guard.
PASSING = {
    None: Facts(),
    "hasValidCartItems": Facts(cart_item_count=2),
    "isAuthenticated": Facts(user_id="user_x"),
    "isGuestCheckout": Facts(),
    "isValidGuestInfo": Facts(),
    "isValidAddress": Facts(),
    "isOfferedShippingMethod": Facts(
        offered_shipping_ids=frozenset({"us:ground"}), shipping_method_id="us:ground"
    ),
    "isValidPaymentMethod": Facts(),
}


@pytest.mark.parametrize("t", TRANSITIONS, ids=lambda t: f"{t.source}-{t.event}")
def test_every_transition_in_the_table_is_taken(t: machine.Transition) -> None:
    step = machine.step(t.source, t.event, PASSING[t.guard])
    assert step.target == (t.target or t.source)
    assert step.transition is t


def test_a_signed_in_shopper_cannot_go_back_to_guest_contact_details() -> None:
    with pytest.raises(GuardRejected) as info:
        machine.step(State.order_review, Event.EDIT_CONTACT, Facts(user_id="user_x"))
    assert info.value.failure.code == "contact_from_account"


def test_every_pair_not_in_the_table_is_refused() -> None:
    table = {(t.source, t.event) for t in TRANSITIONS}
    refused = 0
    for state, event in itertools.product(State, Event):
        if (state, event) in table:
            continue
        with pytest.raises(NotAllowed) as info:
            machine.step(state, event, PASSING["hasValidCartItems"])
        assert event not in info.value.allowed
        refused += 1
    assert refused == len(State) * len(Event) - len(table)


def test_final_states_are_never_left_and_every_other_state_can_expire() -> None:
    for state in State:
        allowed = machine.allowed_events(state)
        if state in FINAL:
            assert allowed == ()
        else:
            assert Event.EXPIRE in allowed
            assert machine.step(state, Event.EXPIRE, Facts()).target is State.expired


def test_the_seed_and_design_states_are_all_there() -> None:
    names = {s.value for s in State}
    assert {
        "cart_review",
        "user_identification",
        "guest_info",
        "shipping_address",
        "billing_address",
        "shipping_method",
        "payment_method",
        "order_review",
        "payment_processing",
        "payment_success",
        "payment_failed",
        "order_confirmation",
        "auth_redirect",
        "payment_requires_action",
        "payment_refunded",
        "expired",
    } == names
    assert machine.transition_for(State.payment_processing, Event.PAYMENT_REQUIRES_ACTION)
    assert machine.transition_for(State.payment_requires_action, Event.ACTION_COMPLETED)
    assert machine.transition_for(State.auth_redirect, Event.LOGIN_SUCCEEDED)


def test_every_reachable_state_is_reachable_from_the_initial_state() -> None:
    seen = {machine.INITIAL}
    frontier = [machine.INITIAL]
    while frontier:
        s = frontier.pop()
        for t in TRANSITIONS:
            target = t.target or t.source
            if t.source is s and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(State)


@pytest.mark.parametrize(
    ("state", "event", "facts", "code"),
    [
        (State.cart_review, Event.PROCEED_TO_CHECKOUT, Facts(), "cart_empty"),
        (
            State.cart_review,
            Event.PROCEED_TO_CHECKOUT,
            Facts(cart_item_count=1, cart_problems=(FieldError(("cart",), "x", "x"),)),
            "cart_invalid",
        ),
        (State.user_identification, Event.SELECT_REGISTERED, Facts(), "not_authenticated"),
        (State.auth_redirect, Event.LOGIN_SUCCEEDED, Facts(), "not_authenticated"),
        (
            State.guest_info,
            Event.SUBMIT_GUEST_INFO,
            Facts(input_errors=(FieldError(("email",), "email_invalid", "bad"),)),
            "invalid_guest_info",
        ),
        (
            State.shipping_address,
            Event.SUBMIT_SHIPPING,
            Facts(input_errors=(FieldError(("address", "zip_code"), "postal_code_invalid", "x"),)),
            "invalid_address",
        ),
        (
            State.shipping_method,
            Event.SELECT_SHIPPING,
            Facts(offered_shipping_ids=frozenset({"us:ground"}), shipping_method_id="us:rocket"),
            "shipping_method_not_offered",
        ),
        (State.order_review, Event.CONFIRM_ORDER, Facts(), "cart_empty"),
    ],
)
def test_failed_guards_say_why(state: State, event: Event, facts: Facts, code: str) -> None:
    with pytest.raises(GuardRejected) as info:
        machine.step(state, event, facts)
    assert info.value.failure.code == code


def test_guards_and_actions_named_in_the_table_exist() -> None:
    from tillpoint.bootstrap import ACTION_HANDLERS

    assert machine.guards_used() <= set(machine.GUARDS)
    handled = {action for action, handlers in ACTION_HANDLERS.items() if handlers}
    assert machine.actions_used() <= set(ACTIONS) | handled


def test_a_payment_given_back_ends_the_checkout_in_its_own_final_state() -> None:
    # Paid, but the order could not be made (stock or coupon gone): the money goes back and
    # the checkout ends, saying so. Not payment_failed: retrying the card cannot help.
    t = machine.transition_for(State.payment_success, Event.PAYMENT_REFUNDED)
    assert t is not None and t.target is State.payment_refunded
    assert "releaseReservations" in t.actions
    assert State.payment_refunded in FINAL
    assert Event.PAYMENT_REFUNDED in SERVER_EVENTS
    assert [t.source for t in TRANSITIONS if t.target is State.payment_refunded] == [
        State.payment_success
    ]


def test_server_events_are_not_offered_to_clients() -> None:
    allowed = machine.allowed_events(State.payment_processing, include_server=False)
    assert not set(allowed) & SERVER_EVENTS
    assert set(SERVER_EVENTS) >= {Event.PAYMENT_SUCCESS, Event.PAYMENT_FAILURE}


def test_pure_actions_copy_addresses_as_the_seed_says() -> None:
    ctx = new_context(cart_id="cart_x", currency="USD")
    address = {"street1": "1 Main St", "country": "US"}
    out = apply_actions(ctx, ("saveShippingAddress", "copyShippingToBilling"), {"address": address})
    stored = out.dump()
    assert stored["shipping_address"] == stored["billing_address"] == address
    assert ctx.shipping_address is None  # the input context is not mutated
    chosen = CheckoutContext.load({**stored, "shipping_method": {"id": "us:ground"}})
    moved = apply_actions(chosen, ("saveShippingAddress",), {"address": {"country": "CA"}})
    assert moved.shipping_method is None and moved.dump()["shipping_method"] is None


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_no_action_changes_a_nested_value_of_the_context_it_was_given(name: str) -> None:
    """apply_actions copies only the top level: an action that changed a nested value in
    place would change the checkout's stored context too."""
    from copy import deepcopy

    ctx = {
        **new_context(cart_id="cart_x", currency="USD").dump(),
        "user_type": "guest",
        "guest_info": {"email": "a@example.com", "first_name": "A"},
        "shipping_address": {"street1": "1 Main St", "country": "US"},
        "billing_address": {"street1": "2 Side St", "country": "US"},
        "address_validation": {"status": "valid"},
        "shipping_method": {"id": "us:ground", "cost": 500},
        "payment_method": {"type": "card", "brand": "visa"},
        "errors": [{"code": "x"}],
    }
    before = deepcopy(ctx)
    data = {
        "user_type": "registered",
        "user_id": "user_x",
        "guest_info": {"email": "b@example.com"},
        "address": {"street1": "9 New St", "country": "CA"},
        "validation": {"status": "corrected"},
        "shipping_method": {"id": "ca:ground"},
        "payment_method": {"type": "card", "brand": "amex"},
    }
    loaded = CheckoutContext.load(ctx)
    out = apply_actions(loaded, (name,), data)
    assert loaded.dump() == before == ctx and out is not loaded


def test_mermaid_and_dot_render_every_transition() -> None:
    mermaid = machine.to_mermaid()
    dot = machine.to_dot()
    assert mermaid.startswith("stateDiagram-v2")
    assert dot.startswith("digraph checkout {") and dot.rstrip().endswith("}")
    for t in TRANSITIONS:
        assert f"{t.source.value} --> {(t.target or t.source).value} : {t.event.value}" in mermaid
        assert f"{t.source.value} -> {(t.target or t.source).value}" in dot
