"""The checkout state machine as data: states, events, transitions, guards, actions.

Pure: no I/O. The seed's table (section 1) plus the gaps DESIGN.md section 3 closes:
``auth_redirect`` (LOGIN_REQUIRED → log in → LOGIN_SUCCEEDED), 3-D Secure
(``payment_requires_action``), abandonment (EXPIRE from every non-final state
into ``expired``), and ``payment_refunded``: paid, but the order could not be made
(the stock or a coupon ran out while the customer paid), so the money went back.

Guards are named predicates over :class:`Facts` — everything a guard needs, gathered
by the service beforehand (cart lines, who is logged in, the field errors that
validating the event's payload produced, the shipping options on offer). A failed
guard yields a :class:`GuardFailure` with a stable code and field paths. Actions are
names; ``checkout/actions.py`` holds the pure context updates and the service runs
the handlers ``bootstrap.ACTION_HANDLERS`` lists for the others (payment, order, stock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from tillpoint.errors import FieldError


class State(StrEnum):
    cart_review = "cart_review"
    user_identification = "user_identification"
    auth_redirect = "auth_redirect"
    guest_info = "guest_info"
    shipping_address = "shipping_address"
    billing_address = "billing_address"
    shipping_method = "shipping_method"
    payment_method = "payment_method"
    order_review = "order_review"
    payment_processing = "payment_processing"
    payment_requires_action = "payment_requires_action"
    payment_success = "payment_success"
    payment_failed = "payment_failed"
    # Final: paid, no order possible, money given back (not payment_failed: the card was
    # fine, and trying it again cannot bring the sold-out items back).
    payment_refunded = "payment_refunded"
    order_confirmation = "order_confirmation"
    expired = "expired"


class Event(StrEnum):
    PROCEED_TO_CHECKOUT = "PROCEED_TO_CHECKOUT"
    UPDATE_CART = "UPDATE_CART"
    APPLY_COUPON = "APPLY_COUPON"
    SELECT_GUEST = "SELECT_GUEST"
    SELECT_REGISTERED = "SELECT_REGISTERED"
    LOGIN_REQUIRED = "LOGIN_REQUIRED"
    LOGIN_SUCCEEDED = "LOGIN_SUCCEEDED"
    SUBMIT_GUEST_INFO = "SUBMIT_GUEST_INFO"
    SUBMIT_SHIPPING = "SUBMIT_SHIPPING"
    USE_BILLING_AS_SHIPPING = "USE_BILLING_AS_SHIPPING"
    SUBMIT_BILLING = "SUBMIT_BILLING"
    USE_SHIPPING_ADDRESS = "USE_SHIPPING_ADDRESS"
    SELECT_SHIPPING = "SELECT_SHIPPING"
    SELECT_PAYMENT = "SELECT_PAYMENT"
    CONFIRM_ORDER = "CONFIRM_ORDER"
    EDIT_CONTACT = "EDIT_CONTACT"
    EDIT_SHIPPING = "EDIT_SHIPPING"
    EDIT_BILLING = "EDIT_BILLING"
    EDIT_PAYMENT = "EDIT_PAYMENT"
    PAYMENT_SUCCESS = "PAYMENT_SUCCESS"
    PAYMENT_FAILURE = "PAYMENT_FAILURE"
    PAYMENT_REQUIRES_ACTION = "PAYMENT_REQUIRES_ACTION"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    ACTION_COMPLETED = "ACTION_COMPLETED"
    PROCEED_TO_CONFIRMATION = "PROCEED_TO_CONFIRMATION"
    RETRY_PAYMENT = "RETRY_PAYMENT"
    CHANGE_PAYMENT_METHOD = "CHANGE_PAYMENT_METHOD"
    EXPIRE = "EXPIRE"


INITIAL = State.cart_review
FINAL: frozenset[State] = frozenset(
    {State.order_confirmation, State.payment_refunded, State.expired}
)

# Raised only by the server (gateway answers, verified webhooks, the expiry sweep);
# a client that sends one is refused with 403.
SERVER_EVENTS: frozenset[Event] = frozenset(
    {
        Event.PAYMENT_SUCCESS,
        Event.PAYMENT_FAILURE,
        Event.PAYMENT_REQUIRES_ACTION,
        Event.PAYMENT_REFUNDED,
        Event.EXPIRE,
    }
)


@dataclass(frozen=True, slots=True)
class Transition:
    """``source --event[guard]/actions--> target``; ``target`` None keeps the state."""

    source: State
    event: Event
    target: State | None
    guard: str | None = None
    actions: tuple[str, ...] = ()


def _t(
    source: State,
    event: Event,
    target: State | None,
    guard: str | None = None,
    *actions: str,
) -> Transition:
    return Transition(source, event, target, guard, tuple(actions))


S, E = State, Event

_TABLE: tuple[Transition, ...] = (
    # seed section 1, in its order
    _t(S.cart_review, E.PROCEED_TO_CHECKOUT, S.user_identification, "hasValidCartItems"),
    _t(S.cart_review, E.UPDATE_CART, None, None, "updateCartItems"),
    _t(S.cart_review, E.APPLY_COUPON, None, None, "applyCoupon"),
    _t(S.user_identification, E.SELECT_GUEST, S.guest_info, None, "setUserType"),
    _t(
        S.user_identification,
        E.SELECT_REGISTERED,
        S.shipping_address,
        "isAuthenticated",
        "setUserType",
    ),
    _t(S.user_identification, E.LOGIN_REQUIRED, S.auth_redirect),
    _t(S.guest_info, E.SUBMIT_GUEST_INFO, S.shipping_address, "isValidGuestInfo", "saveGuestInfo"),
    _t(
        S.shipping_address,
        E.SUBMIT_SHIPPING,
        S.billing_address,
        "isValidAddress",
        "saveShippingAddress",
    ),
    # The seed's name: the address given is both billing and shipping address.
    _t(
        S.shipping_address,
        E.USE_BILLING_AS_SHIPPING,
        S.shipping_method,
        "isValidAddress",
        "saveShippingAddress",
        "copyShippingToBilling",
    ),
    _t(
        S.billing_address,
        E.SUBMIT_BILLING,
        S.shipping_method,
        "isValidAddress",
        "saveBillingAddress",
    ),
    _t(S.billing_address, E.USE_SHIPPING_ADDRESS, S.shipping_method, None, "copyShippingToBilling"),
    _t(
        S.shipping_method,
        E.SELECT_SHIPPING,
        S.payment_method,
        "isOfferedShippingMethod",
        "saveShippingMethod",
    ),
    _t(
        S.payment_method,
        E.SELECT_PAYMENT,
        S.order_review,
        "isValidPaymentMethod",
        "savePaymentMethod",
    ),
    _t(
        S.order_review,
        E.CONFIRM_ORDER,
        S.payment_processing,
        "hasValidCartItems",
        # In lock order: the payment's checks (gateway calls, velocity) take no row lock,
        # then the coupon rows, then the stock rows, then the intent is made.
        "checkPayment",
        "holdCoupons",
        "reserveStock",
        "initiatePayment",
    ),
    # Moving back (not in the seed): a shopper may go back one screen from any step before
    # the payment; nothing held is given up until the next CONFIRM_ORDER replaces it.
    _t(S.order_review, E.EDIT_SHIPPING, S.shipping_address),
    _t(S.billing_address, E.EDIT_SHIPPING, S.shipping_address),
    _t(S.shipping_method, E.EDIT_SHIPPING, S.shipping_address),
    _t(S.payment_method, E.EDIT_SHIPPING, S.shipping_address),
    *(
        _t(source, E.EDIT_CONTACT, S.guest_info, "isGuestCheckout")
        for source in (
            S.shipping_address,
            S.billing_address,
            S.shipping_method,
            S.payment_method,
            S.order_review,
        )
    ),
    _t(S.order_review, E.EDIT_BILLING, S.billing_address),
    _t(S.order_review, E.EDIT_PAYMENT, S.payment_method),
    _t(S.payment_processing, E.PAYMENT_SUCCESS, S.payment_success, None, "handlePaymentSuccess"),
    _t(S.payment_processing, E.PAYMENT_FAILURE, S.payment_failed, None, "handlePaymentFailure"),
    _t(S.payment_success, E.PROCEED_TO_CONFIRMATION, S.order_confirmation, None, "createOrder"),
    _t(S.payment_failed, E.RETRY_PAYMENT, S.payment_method),
    _t(S.payment_failed, E.CHANGE_PAYMENT_METHOD, S.payment_method),
    # DESIGN.md section 3: auth_redirect
    _t(
        S.auth_redirect,
        E.LOGIN_SUCCEEDED,
        S.shipping_address,
        "isAuthenticated",
        "setUserType",
        "mergeGuestCart",
    ),
    _t(S.auth_redirect, E.SELECT_GUEST, S.guest_info, None, "setUserType"),
    # DESIGN.md section 3: 3-D Secure
    _t(
        S.payment_processing,
        E.PAYMENT_REQUIRES_ACTION,
        S.payment_requires_action,
        None,
        "requestCustomerAction",
    ),
    _t(
        S.payment_requires_action,
        E.ACTION_COMPLETED,
        S.payment_processing,
        None,
        "refreshPaymentStatus",
    ),
    _t(
        S.payment_requires_action,
        E.PAYMENT_FAILURE,
        S.payment_failed,
        None,
        "handlePaymentFailure",
    ),
    # Paid, but PROCEED_TO_CONFIRMATION could not make the order (the stock or a coupon
    # ran out meanwhile): the payment was refunded; the holds left go back with it.
    _t(
        S.payment_success,
        E.PAYMENT_REFUNDED,
        S.payment_refunded,
        None,
        "releaseReservations",
        "handlePaymentRefund",
    ),
)

# DESIGN.md section 3: abandonment — every non-final state can expire.
TRANSITIONS: tuple[Transition, ...] = _TABLE + tuple(
    _t(state, E.EXPIRE, S.expired, None, "releaseReservations")
    for state in State
    if state not in FINAL
)

_BY_KEY: dict[tuple[State, Event], Transition] = {(t.source, t.event): t for t in TRANSITIONS}
if len(_BY_KEY) != len(TRANSITIONS):  # pragma: no cover - a table typo must not ship
    raise RuntimeError("two transitions share a (state, event) pair")


# --- guards -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the guards may look at, gathered by the service before a step (no I/O here)."""

    cart_item_count: int = 0
    cart_problems: tuple[FieldError, ...] = ()
    user_id: str | None = None
    input_errors: tuple[FieldError, ...] = ()
    offered_shipping_ids: frozenset[str] = field(default_factory=frozenset)
    shipping_method_id: str | None = None


@dataclass(frozen=True, slots=True)
class GuardFailure:
    """Why a guard said no: a stable code, a sentence, and the fields at fault."""

    guard: str
    code: str
    message: str
    fields: tuple[FieldError, ...] = ()


Guard = Callable[[Facts], GuardFailure | None]


def has_valid_cart_items(f: Facts) -> GuardFailure | None:
    if f.cart_item_count == 0:
        return GuardFailure("hasValidCartItems", "cart_empty", "The cart is empty.")
    if f.cart_problems:
        return GuardFailure(
            "hasValidCartItems",
            "cart_invalid",
            "Some cart lines can no longer be bought as they are.",
            f.cart_problems,
        )
    return None


def is_authenticated(f: Facts) -> GuardFailure | None:
    if f.user_id is None:
        return GuardFailure("isAuthenticated", "not_authenticated", "Log in first.")
    return None


def is_guest_checkout(f: Facts) -> GuardFailure | None:
    if f.user_id is not None:
        return GuardFailure(
            "isGuestCheckout",
            "contact_from_account",
            "Signed in, your contact details come from your account.",
        )
    return None


def _inputs_valid(name: str, code: str, message: str) -> Guard:
    def guard(f: Facts) -> GuardFailure | None:
        return GuardFailure(name, code, message, f.input_errors) if f.input_errors else None

    return guard


def is_offered_shipping_method(f: Facts) -> GuardFailure | None:
    if f.input_errors:
        return GuardFailure(
            "isOfferedShippingMethod", "shipping_unavailable", "No shipping.", f.input_errors
        )
    if f.shipping_method_id not in f.offered_shipping_ids:
        return GuardFailure(
            "isOfferedShippingMethod",
            "shipping_method_not_offered",
            "That shipping method is not offered for this address.",
            (
                FieldError(
                    ("shipping_method_id",),
                    "not_offered",
                    "Choose one of the offered shipping options.",
                ),
            ),
        )
    return None


GUARDS: dict[str, Guard] = {
    "hasValidCartItems": has_valid_cart_items,
    "isAuthenticated": is_authenticated,
    "isGuestCheckout": is_guest_checkout,
    "isValidGuestInfo": _inputs_valid(
        "isValidGuestInfo", "invalid_guest_info", "Some contact details are not valid."
    ),
    "isValidAddress": _inputs_valid("isValidAddress", "invalid_address", "The address is invalid."),
    "isOfferedShippingMethod": is_offered_shipping_method,
    "isValidPaymentMethod": _inputs_valid(
        "isValidPaymentMethod", "invalid_payment_method", "The payment method is not usable."
    ),
}


# --- stepping -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of an allowed, guarded event: where to go and which actions to run."""

    transition: Transition
    target: State


class NotAllowed(Exception):
    """The event is not in the table for this state."""

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"{event} is not allowed in {state}")
        self.state = state
        self.event = event
        self.allowed = allowed_events(state)


class GuardRejected(Exception):
    def __init__(self, failure: GuardFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def transition_for(state: State, event: Event) -> Transition | None:
    """The table's transition for this pair, or None when the machine refuses it."""
    return _BY_KEY.get((state, event))


def step(state: State, event: Event, facts: Facts) -> Step:
    """Decide one event: raises :class:`NotAllowed` or :class:`GuardRejected`, else a Step."""
    t = transition_for(state, event)
    if t is None:
        raise NotAllowed(state, event)
    if t.guard is not None:
        failure = GUARDS[t.guard](facts)
        if failure is not None:
            raise GuardRejected(failure)
    return Step(t, t.target if t.target is not None else state)


def allowed_events(state: State, *, include_server: bool = True) -> tuple[Event, ...]:
    """Events the table has for ``state`` (in table order), optionally without server-only ones."""
    return tuple(
        t.event
        for t in TRANSITIONS
        if t.source is state and (include_server or t.event not in SERVER_EVENTS)
    )


def guards_used() -> frozenset[str]:
    return frozenset(t.guard for t in TRANSITIONS if t.guard)


def actions_used() -> frozenset[str]:
    return frozenset(a for t in TRANSITIONS for a in t.actions)


# --- rendering ------------------------------------------------------------------------


def _label(t: Transition) -> str:
    text = t.event.value
    if t.guard:
        text += f" [{t.guard}]"
    if t.actions:
        text += " / " + ", ".join(t.actions)
    return text


def _shown(include_expiry: bool) -> Iterable[Transition]:
    return (t for t in TRANSITIONS if include_expiry or t.event is not Event.EXPIRE)


def to_mermaid(*, include_expiry: bool = True) -> str:
    """The machine as a Mermaid ``stateDiagram-v2``."""
    lines = ["stateDiagram-v2", f"    [*] --> {INITIAL.value}"]
    for t in _shown(include_expiry):
        target = (t.target or t.source).value
        lines.append(f"    {t.source.value} --> {target} : {_label(t)}")
    lines.extend(f"    {s.value} --> [*]" for s in State if s in FINAL)
    if not include_expiry:
        lines.append("    note right of expired : EXPIRE from every non-final state")
    return "\n".join(lines) + "\n"


def to_dot(*, include_expiry: bool = True) -> str:
    """The machine as a Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    lines = [
        "digraph checkout {",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded", fontname="Helvetica", fontsize=11];',
        '    edge [fontname="Helvetica", fontsize=9];',
        '    __start [shape=point, label=""];',
        f"    __start -> {INITIAL.value};",
    ]
    lines.extend(f"    {s.value} [shape=doubleoctagon];" for s in State if s in FINAL)
    for t in _shown(include_expiry):
        target = (t.target or t.source).value
        style = ', style="dashed", color="gray50"' if t.event is Event.EXPIRE else ""
        lines.append(f'    {t.source.value} -> {target} [label="{_label(t)}"{style}];')
    if not include_expiry:
        lines.append('    __any [shape=plaintext, label="every non-final state"];')
        lines.append('    __any -> expired [label="EXPIRE / releaseReservations", style="dashed"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
