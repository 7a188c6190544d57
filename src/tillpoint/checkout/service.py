"""Checkout use cases: start, read, drive with events, list shipping options, expire.

One write path: :func:`send_event` (clients) and :func:`apply_server_event` (payments,
webhooks, the sweeper) both go through :func:`_drive`, which locks the checkout row,
then :func:`_step`: check the event is allowed (``If-Match``, expiry, the table),
prepare (the cart and the facts of the typed command), step (the pure machine), apply
(the pure actions), run the action handlers the runtime carries, save (the row, then
the audit event) — all in one unit of work. CONFIRM_ORDER's re-pricing and refusals
are ``checkout/confirm.py``; saving is ``checkout/store.py``.

Totals are never stored as truth: they are recomputed from the cart, the context
and the catalog at every read. ``context.quoted_totals`` remembers what the customer
was last shown; CONFIRM_ORDER re-prices and answers 409 ``totals_changed`` (with
the new totals, now quoted) if anything moved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from tillpoint.addresses.public import check_guest_info
from tillpoint.audit.chain import Along
from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.auth.public import GuestSession, RegisteredSession, SessionContext
from tillpoint.cart import public as cart_public
from tillpoint.cart.public import audit_removals
from tillpoint.checkout import confirm, machine, queries
from tillpoint.checkout.actions import apply_actions, new_context
from tillpoint.checkout.cart_facts import CartFacts, load_cart_facts
from tillpoint.checkout.commands import (
    AddressEvent,
    ClientCommand,
    Command,
    GuestInfoEvent,
    PaymentEvent,
    SavedMethod,
    ServerEvent,
    ShippingEvent,
    event_of,
)
from tillpoint.checkout.context import CheckoutContext
from tillpoint.checkout.effects import EffectCall, RefuseKeeping, has_effects, run_effects
from tillpoint.checkout.machine import Event, Facts, State
from tillpoint.checkout.models import Checkout
from tillpoint.checkout.paying import PAYING_STATES
from tillpoint.checkout.store import only_row_changed, release, save
from tillpoint.checkout.views import (
    CheckoutOut,
    CheckoutView,
    address_of,
    try_price,
    view_of,
)
from tillpoint.db import UTCDateTime
from tillpoint.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from tillpoint.ids import is_valid_id, new_id
from tillpoint.pricing.public import OrderTotal, shipping_request
from tillpoint.runtime import Runtime
from tillpoint.shipping.public import ShippingQuote

log = logging.getLogger(__name__)

_CHECKOUTS = cast(Table, Checkout.__table__)

# While a payment may be in flight or was taken, inactivity must not end the checkout:
# the gateway's answer still has to land (payments resolve these states: the sweeper
# cancels an intent left unfinished past the checkout's lifetime, see
# checkout/payment_recovery.py).
_NEVER_SWEPT = PAYING_STATES


_SESSION_ROW = (
    select(literal(0), GuestSession.checkout_data)
    .where(GuestSession.id == bindparam("session_id"))
    .union_all(
        select(literal(1), RegisteredSession.checkout_data).where(
            RegisteredSession.id == bindparam("session_id")
        )
    )
)


async def _session_checkout_data(s: AsyncSession, session_id: str) -> dict[str, Any]:
    """The caller's session's ``checkout_data`` (guest or registered session row)."""
    found = (await s.execute(_SESSION_ROW, {"session_id": session_id})).first()
    return dict(found[1] or {}) if found is not None else {}


async def _remember_on_session(s: AsyncSession, session: SessionContext, checkout_id: str) -> None:
    """Note the checkout on the caller's session row: login carries ``checkout_data`` over to
    the new registered session, so the checkout stays the caller's across the login.
    One UPDATE in the table the session most likely lives in (the other if none matched)."""
    conn = await s.connection()
    params = {"session_id": session.session_id, "checkout_id": checkout_id}
    for statement in queries.remember_checkout_statements(s, guest=session.user_id is None):
        if getattr(await conn.execute(statement, params), "rowcount", 0):
            return


async def _owned(s: AsyncSession, row: Checkout | None, session: SessionContext) -> Checkout:
    """``row`` if the caller owns it (same session, same user, or a session that took it over
    at login); 404 otherwise, so other people's checkouts do not even seem to exist."""
    if row is None:
        raise NotFound("No such checkout.", code="checkout_not_found")
    if row.session_id == session.session_id or (
        row.user_id is not None and row.user_id == session.user_id
    ):
        return row
    if (await _session_checkout_data(s, session.session_id)).get("checkout_id") == row.id:
        return row
    raise NotFound("No such checkout.", code="checkout_not_found")


_LOCK = (
    select(Checkout)
    .where(Checkout.id == bindparam("checkout_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


_READ_CORE = select(_CHECKOUTS).where(_CHECKOUTS.c.id == bindparam("checkout_id"))
_LOCK_CORE = _READ_CORE.with_for_update()
# A customer's steps that write nothing but the checkout row (no action handler today;
# _step attaches the row if one is): read and written with Core, never in the session.
_CORE_STEPS = frozenset(
    {
        Event.SELECT_GUEST,
        Event.LOGIN_REQUIRED,
        Event.SUBMIT_GUEST_INFO,
        Event.SUBMIT_SHIPPING,
        Event.SUBMIT_BILLING,
        Event.USE_BILLING_AS_SHIPPING,
        Event.USE_SHIPPING_ADDRESS,
        Event.SELECT_SHIPPING,
        Event.SELECT_PAYMENT,
        Event.EDIT_CONTACT,
        Event.EDIT_SHIPPING,
        Event.EDIT_BILLING,
        Event.EDIT_PAYMENT,
    }
)


async def _lock_detached(
    s: AsyncSession, checkout_id: str, *, lock: bool = True
) -> Checkout | None:
    """The checkout row, locked unless ``lock`` is false, as a transient ``Checkout`` the
    session does not track (no ORM load; :func:`_attach` hands it to the session when a
    path needs that)."""
    if not is_valid_id(checkout_id, "chk"):
        return None
    query = _LOCK_CORE if lock else _READ_CORE
    found = (await (await s.connection()).execute(query, {"checkout_id": checkout_id})).first()
    return None if found is None else Checkout(**found._mapping)


def _attach(s: AsyncSession, row: Checkout) -> None:
    """Make a row from :func:`_lock_detached` the session's, as if it had loaded it."""
    if inspect(row).transient:
        make_transient_to_detached(row)
        s.add(row)


async def _lock(s: AsyncSession, checkout_id: str) -> Checkout | None:
    if not is_valid_id(checkout_id, "chk"):
        return None
    return await s.scalar(_LOCK, {"checkout_id": checkout_id})


def _expired_by_time(row: Checkout, now: datetime) -> bool:
    state = State(row.state)
    return state not in machine.FINAL and state not in _NEVER_SWEPT and row.expires_at <= now


async def _audit(
    s: AsyncSession,
    rt: Runtime,
    row: Checkout,
    event_type: str,
    action: str,
    actor: Actor,
    metadata: dict[str, Any],
    *,
    along: Along | None = None,
) -> None:
    """The one place checkout audit events are emitted (same unit of work as the change;
    ``along``: the change itself, sent with the audit row)."""
    await record(
        s,
        AuditEvent(event_type, "checkout", row.id, action, metadata),
        actor,
        rt.clock.now(),
        along=along,
    )


# --- starting and reading ------------------------------------------------------------


async def start_checkout(
    rt: Runtime, session: SessionContext, *, actor: Actor = SYSTEM, locale: str | None = None
) -> tuple[CheckoutView, bool]:
    """Start a checkout of the session's cart (PROCEED_TO_CHECKOUT), or return the live one.

    Returns the checkout and whether it was created. An empty or invalid cart is
    refused (422 ``cart_empty`` / ``cart_invalid``) and nothing is stored.
    """
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        # The cart's row lock (one start per cart at a time), taken by reading its lines.
        cart = await load_cart_facts(s, session.cart_id, lock=True)
        live = await s.scalar(
            _LIVE_CHECKOUT,
            {"cart_id": session.cart_id, "session_id": session.session_id, "now": now},
        )
        if live is not None:
            live_context = CheckoutContext.load(live.context)
            totals, errors = await try_price(rt, s, live, live_context, cart)
            return view_of(live, live_context, totals, errors), False
        facts = Facts(cart_item_count=len(cart.lines), cart_problems=cart.problems)
        try:
            step = machine.step(machine.INITIAL, Event.PROCEED_TO_CHECKOUT, facts)
        except machine.GuardRejected as exc:
            raise _guard_error(exc.failure) from exc
        context = new_context(cart_id=session.cart_id, currency=cart.currency)
        if locale:
            context.locale = locale
        row = Checkout(
            id=new_id("chk"),
            session_id=session.session_id,
            user_id=session.user_id,
            cart_id=session.cart_id,
            state=step.target.value,
            version=1,
            expires_at=now + timedelta(seconds=rt.settings.checkout_ttl_seconds),
            created_at=now,
            updated_at=now,
        )
        # Priced before it is added: the row is INSERTed once, quote included.
        totals, errors = await try_price(rt, s, row, context, cart)
        if totals is not None:
            context.quoted_totals = list(totals.money_fingerprint())
        row.context = context.dump()
        await _remember_on_session(s, session, row.id)
        started = {"cart_id": row.cart_id, "lines": len(cart.lines), "state": row.state}
        if session.user_id is None:
            # A guest's row is INSERTed with the audit row (one round trip on PostgreSQL).
            # Its only key to check is the cart's, whose row this transaction holds, so no
            # lock is taken after the audit head's.
            along = Along(_INSERT_CHECKOUT, _insert_params(row))
            await _audit(s, rt, row, "checkout_started", "start", actor, started, along=along)
        else:
            s.add(row)
            await s.flush()
            await _audit(s, rt, row, "checkout_started", "start", actor, started)
        return view_of(row, context, totals, errors), True


_LIVE_CHECKOUT = (
    select(Checkout)
    .where(
        Checkout.cart_id == bindparam("cart_id"),
        Checkout.session_id == bindparam("session_id"),
        Checkout.state.not_in([st.value for st in machine.FINAL]),
        Checkout.expires_at > bindparam("now", type_=UTCDateTime()),
    )
    .order_by(Checkout.created_at.desc())
    .limit(1)
)
_INSERT_CHECKOUT = _CHECKOUTS.insert().values(
    {c.name: bindparam(f"c_{c.name}", type_=c.type) for c in _CHECKOUTS.c}
)


def _insert_params(row: Checkout) -> dict[str, Any]:
    return {f"c_{c.name}": getattr(row, c.key) for c in _CHECKOUTS.c}


async def get_checkout(rt: Runtime, session: SessionContext, checkout_id: str) -> CheckoutView:
    """The caller's checkout with totals priced now (404 if not theirs); expires it if due."""
    async with rt.db.transaction() as s:
        row = await _owned(s, await _lock_detached(s, checkout_id), session)
        context = CheckoutContext.load(row.context)
        if _expired_by_time(row, rt.clock.now()):
            _attach(s, row)
            context = await _expire_locked(rt, s, row, context, SYSTEM)
        cart = await load_cart_facts(s, row.cart_id)
        totals, errors = await try_price(rt, s, row, context, cart)
        return view_of(row, context, totals, errors + _stock(cart))


async def shipping_options(rt: Runtime, session: SessionContext, checkout_id: str) -> ShippingQuote:
    """The options offered for the checkout's shipping address and cart (409 without one)."""
    # Only reads, so no lock and (on PostgreSQL) no BEGIN/COMMIT: a quote never waits for a
    # step in flight, and SELECT_SHIPPING checks the chosen method against fresh facts.
    async with rt.db.reads() as s:
        row = await _owned(s, await _lock_detached(s, checkout_id, lock=False), session)
        address = address_of(CheckoutContext.load(row.context))
        if address is None:
            raise Conflict("Enter a shipping address first.", code="shipping_address_required")
        cart = await load_cart_facts(s, row.cart_id)
    request = shipping_request(cart.currency, cart.lines, address)
    return await rt.pricing.shipping.get_shipping_options(request, rt.clock.now())


# --- driving ------------------------------------------------------------------------


def _guard_error(failure: machine.GuardFailure) -> InvalidInput:
    return InvalidInput(
        failure.message,
        code=failure.code,
        fields=list(failure.fields),
        details={"guard": failure.guard},
    )


@dataclass
class _Prepared:
    facts: Facts
    data: dict[str, Any] = field(default_factory=dict)


async def _prepare(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    context: CheckoutContext,
    command: Command,
    user_id: str | None,
    cart: CartFacts,
) -> _Prepared:
    """Gather the facts this event's guard reads from its (already validated) command."""
    base = Facts(cart_item_count=len(cart.lines), cart_problems=cart.problems, user_id=user_id)
    event = event_of(command)
    if event is Event.SELECT_GUEST:
        return _Prepared(base, {"user_type": "guest", "user_id": None})
    if event in (Event.SELECT_REGISTERED, Event.LOGIN_SUCCEEDED):
        return _Prepared(base, {"user_type": "registered", "user_id": user_id})
    if isinstance(command, GuestInfoEvent):
        info, info_errors = check_guest_info(command, rt.settings.default_phone_region)
        return _Prepared(
            Facts(**{**_facts_dict(base), "input_errors": info_errors}),
            {"guest_info": info.model_dump(exclude={"type"})},
        )
    if isinstance(command, AddressEvent):
        result = await rt.pricing.addresses.validate_address(command.address)
        chosen = result.standardized_address or command.address
        return _Prepared(
            Facts(**{**_facts_dict(base), "input_errors": result.errors}),
            {"address": chosen.model_dump(), "validation": result.as_dict()},
        )
    if isinstance(command, ShippingEvent):
        return await _prepare_shipping(rt, context, command.shipping_method_id, base, cart)
    if isinstance(command, PaymentEvent):
        errors: tuple[FieldError, ...] = ()
        if isinstance(command.payment_method, SavedMethod) and user_id is None:
            errors = (
                FieldError(
                    ("payment_method", "saved_method_id"),
                    "login_required",
                    "Saved payment methods need a logged-in customer.",
                ),
            )
        return _Prepared(
            Facts(**{**_facts_dict(base), "input_errors": errors}),
            {"payment_method": command.payment_method.model_dump()},
        )
    return _Prepared(base, dict(command.payload) if isinstance(command, ServerEvent) else {})


async def _prepare_shipping(
    rt: Runtime, context: CheckoutContext, method_id: str, base: Facts, cart: CartFacts
) -> _Prepared:
    shipping_to = address_of(context)
    if shipping_to is None:
        err = FieldError(("shipping_method_id",), "no_address", "No shipping address.")
        return _Prepared(Facts(**{**_facts_dict(base), "input_errors": (err,)}))
    quote = await rt.pricing.shipping.get_shipping_options(
        shipping_request(cart.currency, cart.lines, shipping_to), rt.clock.now()
    )
    offered = {o.id: o for o in quote.options}
    chosen_option = offered.get(method_id)
    return _Prepared(
        Facts(
            **{
                **_facts_dict(base),
                "offered_shipping_ids": frozenset(offered),
                "shipping_method_id": method_id,
            }
        ),
        {"shipping_method": chosen_option.to_json() if chosen_option else None},
    )


def _facts_dict(f: Facts) -> dict[str, Any]:
    return {
        "cart_item_count": f.cart_item_count,
        "cart_problems": f.cart_problems,
        "user_id": f.user_id,
        "input_errors": f.input_errors,
        "offered_shipping_ids": f.offered_shipping_ids,
        "shipping_method_id": f.shipping_method_id,
    }


class _Expired(Exception):
    def __init__(self, view: CheckoutView) -> None:
        self.view = view


async def _step(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    command: Command,
    *,
    user_id: str | None,
    caller: SessionContext | None,
    if_match: int | None,
    actor: Actor,
    price: bool = True,
) -> CheckoutView:
    """One event on a row :func:`_drive` locked: prepare, step, apply, run the handlers,
    save. Raises to refuse (the unit of work then rolls back).

    ``price=False`` (the finalize path, which reads back only state and context): a step
    whose transition has no guard neither loads nor prices the cart (view totals None)."""
    now = rt.clock.now()
    event = event_of(command)
    # The row's context, loaded once: every part of the step reads it, the save dumps it.
    before = CheckoutContext.load(row.context)
    transition = await _allowed(rt, s, row, before, event, caller, if_match, actor, now)
    bare = not price and transition.guard is None and event is not Event.CONFIRM_ORDER
    cart = await _cart_for(s, row, before, event, caller, bare=bare)
    prepared = await _prepare(rt, s, row, before, command, user_id, cart)
    step = _decide(row, event, prepared.facts)
    context = _apply(row, before, event, step, prepared.data, user_id)
    repriced = None
    if event is Event.CONFIRM_ORDER:
        repriced = await confirm.reprice(rt, s, row, context, cart, actor, now)
    call = _call(rt, s, row, command, step, context, actor)
    await _run_handlers(call, before, step.transition.actions, cart, repriced, now)
    totals, errors = await _advance(rt, s, row, call, cart, repriced, bare, now)
    await _save_step(rt, s, row, call, caller, repriced, now)
    notices = repriced.notices if repriced is not None else ()
    return view_of(row, call.context, totals, errors + notices + _stock(cart))


async def _allowed(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    context: CheckoutContext,
    event: Event,
    caller: SessionContext | None,
    if_match: int | None,
    actor: Actor,
    now: datetime,
) -> machine.Transition:
    """The transition ``event`` takes from the row's state; refuses a stale ``If-Match``
    (412), a customer's late event on a lapsed checkout (expired then), or an event the
    state has no transition for (409)."""
    if if_match is not None and if_match != row.version:
        current_cart = await load_cart_facts(s, row.cart_id)
        current, problems = await try_price(rt, s, row, context, current_cart)
        raise PreconditionFailed(
            "The checkout changed since you last read it.",
            details={"current": _answer_of(view_of(row, context, current, problems))},
        )
    source = State(row.state)
    # Only a customer's late event finds the checkout expired; the server's events
    # (gateway answers, webhooks) carry facts that must be recorded.
    if caller is not None and _expired_by_time(row, now):
        _attach(s, row)
        expired = await _expire_locked(rt, s, row, context, actor)
        raise _Expired(view_of(row, expired, None))
    transition = machine.transition_for(source, event)
    if transition is None:
        allowed = machine.allowed_events(source, include_server=False)
        raise Conflict(
            f"{event.value} is not allowed while the checkout is in {source.value}.",
            code="event_not_allowed",
            details={"state": source.value, "allowed_events": [e.value for e in allowed]},
        )
    return transition


def _answer_of(view: CheckoutView) -> dict[str, Any]:
    """The checkout's public answer as JSON (a 412 shows the current one)."""
    return CheckoutOut.of(view).model_dump(mode="json")


async def _cart_for(
    s: AsyncSession,
    row: Checkout,
    context: CheckoutContext,
    event: Event,
    caller: SessionContext | None,
    *,
    bare: bool,
) -> CartFacts:
    """The cart the step reads (under its row lock for CONFIRM_ORDER, which charges it;
    ``bare``: none, for an unguarded step whose caller reads back only state and context)."""
    if event is Event.LOGIN_SUCCEEDED and caller is not None and caller.user_id is not None:
        # The login opened a new session and may have merged the guest cart into the
        # user's: the checkout follows the session and its cart.
        row.session_id = caller.session_id
        row.cart_id = caller.cart_id
        context.cart_id = caller.cart_id
    if bare:
        return CartFacts(row.cart_id, context.currency or "USD", ())
    return await load_cart_facts(s, row.cart_id, lock=event is Event.CONFIRM_ORDER)


def _decide(row: Checkout, event: Event, facts: Facts) -> machine.Step:
    """The pure machine's answer (422 with the guard's code when a guard says no)."""
    try:
        return machine.step(State(row.state), event, facts)
    except machine.GuardRejected as exc:
        raise _guard_error(exc.failure) from exc


def _apply(
    row: Checkout,
    context: CheckoutContext,
    event: Event,
    step: machine.Step,
    data: dict[str, Any],
    user_id: str | None,
) -> CheckoutContext:
    """The context after the transition's pure actions (a copy: ``context`` stays as it
    was before the step); the customer, once logged in."""
    if event in (Event.SELECT_REGISTERED, Event.LOGIN_SUCCEEDED):
        row.user_id = user_id
    return apply_actions(context, step.transition.actions, data)


def _call(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    command: Command,
    step: machine.Step,
    context: CheckoutContext,
    actor: Actor,
) -> EffectCall:
    return EffectCall(
        rt=rt,
        s=s,
        checkout=row,
        event=step.transition.event,
        source=State(row.state),
        target=step.target,
        payload=dict(command.payload) if isinstance(command, ServerEvent) else {},
        context=context,
        actor=actor,
    )


async def _run_handlers(
    call: EffectCall,
    before: CheckoutContext,
    actions: tuple[str, ...],
    cart: CartFacts,
    repriced: confirm.Repriced | None,
    now: datetime,
) -> None:
    """The handlers of the transition's actions, inside this unit of work."""
    rt, s, row = call.rt, call.s, call.checkout
    if repriced is not None:
        confirm.hand_over(call, cart, repriced)
    if has_effects(rt.actions, actions):
        _attach(s, row)  # handlers see (and may flush) the row as the session's
    try:
        await run_effects(actions, call)
    except RefuseKeeping as refused:
        raise await confirm.refused_keeping(
            rt, s, row, before, cart, repriced, refused, call.actor, now
        ) from refused


async def _advance(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    call: EffectCall,
    cart: CartFacts,
    repriced: confirm.Repriced | None,
    bare: bool,
    now: datetime,
) -> tuple[OrderTotal | None, tuple[dict[str, Any], ...]]:
    """Move the row to the target state with the handlers' context, priced now (a
    customer's step also quotes the new totals)."""
    row.state = call.target.value
    row.version += 1
    row.updated_at = now
    row.expires_at = now + timedelta(seconds=rt.settings.checkout_ttl_seconds)
    # From here the row is written only by the step's save; a flush (pricing's, below,
    # which writes what server handlers changed that pricing reads, such as coupon usage
    # at order creation) leaves it alone.
    release(s, row)
    totals = repriced.totals if repriced is not None else None
    errors: tuple[dict[str, Any], ...] = ()
    if totals is None and not bare:
        totals, errors = await _price_after(rt, s, row, call, cart)
    if totals is not None and call.event not in machine.SERVER_EVENTS:
        call.context.quoted_totals = list(totals.money_fingerprint())
    row.context = call.context.dump()  # the step's one dump
    return totals, errors


async def _price_after(
    rt: Runtime, s: AsyncSession, row: Checkout, call: EffectCall, cart: CartFacts
) -> tuple[OrderTotal | None, tuple[dict[str, Any], ...]]:
    if call.event in machine.SERVER_EVENTS:
        # Server handlers may write what pricing reads (coupon usage at order creation):
        # let pricing flush them first.
        return await try_price(rt, s, row, call.context, cart)
    # A customer's event writes nothing pricing reads (coupons are only touched at
    # CONFIRM_ORDER, priced before its handlers): what they wrote goes out with the save.
    with s.no_autoflush:
        return await try_price(rt, s, row, call.context, cart)


# Steps whose row is saved apart, before their audit row: CONFIRM_ORDER (its handlers
# write other rows), and those that set the user or cart keys, whose foreign-key checks
# lock the user's or cart's row: that must happen before the audit head is locked.
_SAVED_APART = frozenset({Event.CONFIRM_ORDER, Event.SELECT_REGISTERED, Event.LOGIN_SUCCEEDED})


async def _save_step(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    call: EffectCall,
    caller: SessionContext | None,
    repriced: confirm.Repriced | None,
    now: datetime,
) -> None:
    """Save the row and record the step: the UPDATE travels with the audit row when only
    the row changed on a customer's step that sets no foreign key; otherwise the other
    rows and the row go first (their key checks lock before the audit head does)."""
    event, actor = call.event, call.actor
    along = caller is not None and event not in _SAVED_APART and only_row_changed(s, row)
    pending = await save(s, row, along=along)
    if repriced is not None:
        await audit_removals(s, row.cart_id, repriced.notices, actor, now)
    name = event.value.lower()
    moved = {"from": call.source.value, "to": row.state, "version": row.version}
    await _audit(s, rt, row, f"checkout_{name}", name, actor, moved, along=pending)


def _stock(cart: CartFacts) -> tuple[dict[str, Any], ...]:
    """Out-of-stock lines, reported with every step so the customer learns early."""
    return tuple(p.as_dict() for p in cart.problems if p.code == "out_of_stock")


async def _forget_cart_if_coupons_removed(rt: Runtime, view: CheckoutView) -> None:
    """After commit: a cart that lost coupons at CONFIRM_ORDER must not be served from cache."""
    if any(e.get("code") == "coupon_removed" for e in view.errors):
        await cart_public.invalidate(rt, view.context.cart_id or "")


async def _drive(
    rt: Runtime,
    checkout_id: str,
    command: Command,
    *,
    session: SessionContext | None,
    if_match: int | None,
    actor: Actor,
    price: bool = True,
) -> CheckoutView:
    refusal: confirm.TotalsChanged | _Expired | None = None
    async with rt.db.transaction() as s:
        if session is not None and event_of(command) in _CORE_STEPS:
            row = await _lock_detached(s, checkout_id)
        else:
            row = await _lock(s, checkout_id)
        if session is not None:
            row = await _owned(s, row, session)
        elif row is None:
            raise NotFound("No such checkout.", code="checkout_not_found")
        try:
            done = await _step(
                rt,
                s,
                row,
                command,
                user_id=session.user_id if session else row.user_id,
                caller=session,
                if_match=if_match,
                actor=actor,
                price=price,
            )
        except (confirm.TotalsChanged, _Expired) as kept:
            # The refusal saved what it keeps (expiry, the new quote): commit, then answer.
            refusal = kept
    if refusal is None:
        await _forget_cart_if_coupons_removed(rt, done)
        return done
    if isinstance(refusal, _Expired):
        raise Conflict(
            "This checkout expired; start again from the cart.",
            code="checkout_expired",
            details={"state": State.expired.value},
        )
    assert refusal is not None
    await _forget_cart_if_coupons_removed(rt, refusal.view)
    raise confirm.refusal_of(refusal)


async def send_event(
    rt: Runtime,
    session: SessionContext,
    checkout_id: str,
    command: ClientCommand,
    *,
    if_match: int | None = None,
    actor: Actor = SYSTEM,
) -> CheckoutView:
    """A client's event (the command the router validated) on its own checkout.
    Server-only events are refused (403).

    409 ``event_not_allowed`` (with ``allowed_events``) when the state has no such
    transition, 422 with the guard's code and field paths when a guard fails, 412
    on a stale ``If-Match``, 409 ``totals_changed`` from CONFIRM_ORDER when the
    re-priced totals differ from the ones last shown, 409 ``checkout_expired``.
    """
    event = event_of(command)
    if event in machine.SERVER_EVENTS:
        raise Forbidden(
            f"{event.value} is raised by the server only.", code="server_event_forbidden"
        )
    return await _drive(rt, checkout_id, command, session=session, if_match=if_match, actor=actor)


async def apply_server_event(
    rt: Runtime,
    checkout_id: str,
    event: Event,
    payload: dict[str, Any] | None = None,
    *,
    actor: Actor = SYSTEM,
    price: bool = True,
) -> CheckoutView:
    """Apply an event the server decided (gateway answer, verified webhook, sweeper).

    No ownership check and no ``If-Match``; same table, guards, effects and audit as
    client events. Use it for PAYMENT_SUCCESS / PAYMENT_FAILURE / PAYMENT_REQUIRES_ACTION,
    and for PROCEED_TO_CONFIRMATION from the finalize path. ``price=False`` when only the
    state and context are read back: an unguarded step then skips loading and pricing
    the cart (the view's totals are None).
    """
    return await _drive(
        rt,
        checkout_id,
        ServerEvent(event, dict(payload or {})),
        session=None,
        if_match=None,
        actor=actor,
        price=price,
    )


# --- expiry ---------------------------------------------------------------------------


async def _expire_locked(
    rt: Runtime, s: AsyncSession, row: Checkout, context: CheckoutContext, actor: Actor
) -> CheckoutContext:
    """Expire the locked ``row`` (``context``: its loaded context); the context saved."""
    source = State(row.state)
    step = machine.step(source, Event.EXPIRE, Facts())
    call = EffectCall(rt, s, row, Event.EXPIRE, source, step.target, {}, context, actor)
    await run_effects(step.transition.actions, call)
    row.state = step.target.value
    row.context = call.context.dump()
    row.version += 1
    row.updated_at = rt.clock.now()
    await save(s, row)
    await _audit(s, rt, row, "checkout_expired", "expire", actor, {"from": source.value})
    return call.context


async def expire_checkouts(rt: Runtime, *, batch: int = 200) -> int:
    """Move checkouts idle past their TTL into ``expired`` (the sweep job); returns how many.

    Each checkout expires in its own transaction: one expiry takes stock, coupon and audit
    locks, and holding a whole batch's locks at once could deadlock with a CONFIRM_ORDER
    taking the same rows in its own order. Rows are claimed with ``SKIP LOCKED`` on
    PostgreSQL so several instances may sweep.
    """
    now = rt.clock.now()
    skip = [st.value for st in machine.FINAL | _NEVER_SWEPT]
    due = (Checkout.expires_at <= now, Checkout.state.not_in(skip))
    async with rt.db.transaction() as s:
        ids = list(
            (
                await s.scalars(select(Checkout.id).where(*due).order_by(Checkout.id).limit(batch))
            ).all()
        )
    expired = 0
    for checkout_id in ids:
        async with rt.db.transaction() as s:
            q = select(Checkout).where(Checkout.id == checkout_id, *due)
            row = (await s.scalars(queries.claim_expiring(s, q))).first()
            if row is None:  # taken by a request or another sweeper meanwhile
                continue
            await _expire_locked(rt, s, row, CheckoutContext.load(row.context), SYSTEM)
            expired += 1
    return expired


async def expire_cart_checkouts(rt: Runtime, cart_id: str) -> int:
    """Expire the live checkouts of ``cart_id`` now, whatever their TTL (a checkout session
    that ended): their stock reservations and coupon holds are released. Checkouts that
    are paying are left to finish. Each in its own transaction, as the sweep does."""
    skip = [st.value for st in machine.FINAL | _NEVER_SWEPT]
    live = (Checkout.cart_id == cart_id, Checkout.state.not_in(skip))
    async with rt.db.transaction() as s:
        ids = list((await s.scalars(select(Checkout.id).where(*live))).all())
    expired = 0
    for checkout_id in ids:
        async with rt.db.transaction() as s:
            q = select(Checkout).where(Checkout.id == checkout_id, *live)
            row = (await s.scalars(queries.claim_expiring(s, q))).first()
            if row is None:
                continue
            await _expire_locked(rt, s, row, CheckoutContext.load(row.context), SYSTEM)
            expired += 1
    return expired


async def adopt_checkouts(
    s: AsyncSession,
    *,
    old_session_id: str,
    new_session_id: str,
    user_id: str | None,
    from_cart_id: str | None = None,
    to_cart_id: str | None = None,
) -> None:
    """When login rotates the session id, keep the session's live checkouts reachable; when
    it merged the guest cart ``from_cart_id`` into ``to_cart_id``, they follow the lines."""
    await s.execute(
        update(Checkout)
        .where(Checkout.session_id == old_session_id)
        .values(session_id=new_session_id)
    )
    if from_cart_id and to_cart_id and from_cart_id != to_cart_id:
        # A checkout paying for its cart stays with it: the order is made from those lines.
        await s.execute(
            update(Checkout)
            .where(
                Checkout.session_id == new_session_id,
                Checkout.cart_id == from_cart_id,
                Checkout.state.not_in([st.value for st in PAYING_STATES]),
            )
            .values(cart_id=to_cart_id, version=Checkout.version + 1)
        )
