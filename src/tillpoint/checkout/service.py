"""Checkout use cases: start, read, drive with events, list shipping options, expire.

One write path: :func:`send_event` (clients) and :func:`apply_server_event` (payments,
webhooks, the sweeper) both go through :func:`_step`, which locks the checkout row,
checks ``If-Match``, asks the pure machine, gathers the facts of the typed command,
applies the pure actions, runs the action handlers the runtime carries, re-prices and
records the audit event — all in one unit of work.

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
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    inspect,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from tillpoint.addresses.rules import check_guest_info
from tillpoint.addresses.schemas import Address
from tillpoint.audit.chain import Along
from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.auth.models import GuestSession, RegisteredSession
from tillpoint.auth.session_context import SessionContext
from tillpoint.cart import cache as cart_cache
from tillpoint.cart.applied_coupons import audit_removals
from tillpoint.cart.coupons import revalidate_locked_cart
from tillpoint.cart.models import AppliedCoupon, Cart, CartItem
from tillpoint.cart.service import refuse_while_paying
from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.checkout import machine
from tillpoint.checkout.actions import apply_actions, new_context
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
from tillpoint.checkout.effects import EffectCall, RefuseKeeping, has_effects, run_effects
from tillpoint.checkout.machine import Event, Facts, State
from tillpoint.checkout.models import Checkout
from tillpoint.checkout.paying import PAYING_STATES
from tillpoint.db import UTCDateTime
from tillpoint.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    TillpointError,
)
from tillpoint.ids import is_valid_id, new_id
from tillpoint.inventory.stock import cart_stock_problems
from tillpoint.pricing.service import (
    PricingInput,
    ShippingNoLongerOffered,
    price_checkout,
    shipping_request,
)
from tillpoint.pricing.totals import OrderTotal
from tillpoint.promotions.discount_types import PricingLine
from tillpoint.runtime import Runtime
from tillpoint.shipping.service import ShippingQuote
from tillpoint.shipping.types import ShippingOption

log = logging.getLogger(__name__)

_CHECKOUTS = cast(Table, Checkout.__table__)

# While a payment may be in flight or was taken, inactivity must not end the checkout:
# the gateway's answer still has to land (payments resolve these states: the sweeper
# cancels an intent left unfinished past the checkout's lifetime, see
# checkout/payment_recovery.py).
_NEVER_SWEPT = PAYING_STATES


@dataclass(frozen=True, slots=True)
class CheckoutView:
    """A checkout as its owner sees it, with totals priced now."""

    id: str
    state: State
    version: int
    context: dict[str, Any]
    expires_at: datetime
    created_at: datetime
    totals: OrderTotal | None
    errors: tuple[dict[str, Any], ...] = ()

    @property
    def allowed_events(self) -> tuple[Event, ...]:
        return machine.allowed_events(self.state, include_server=False)

    @property
    def totals_changed(self) -> bool:
        quoted = self.context.get("quoted_totals")
        return bool(
            self.totals is not None
            and quoted is not None
            and list(self.totals.money_fingerprint()) != quoted
        )


def checkout_to_dict(view: CheckoutView) -> dict[str, Any]:
    """The public JSON shape of a checkout."""
    ctx = view.context
    return {
        "id": view.id,
        "state": view.state.value,
        "version": view.version,
        "allowed_events": [e.value for e in view.allowed_events],
        "expires_at": view.expires_at.isoformat(),
        "created_at": view.created_at.isoformat(),
        "context": {
            "user_type": ctx.get("user_type", "unknown"),
            "user_id": ctx.get("user_id"),
            "cart_id": ctx.get("cart_id"),
            "currency": ctx.get("currency"),
            "guest_info": ctx.get("guest_info"),
            "shipping_address": ctx.get("shipping_address"),
            "billing_address": ctx.get("billing_address"),
            "address_validation": ctx.get("address_validation"),
            "shipping_method": ctx.get("shipping_method"),
            "payment_method": ctx.get("payment_method"),
            "payment": ctx.get("payment"),
            "totals": view.totals.to_json() if view.totals else None,
            "totals_changed": view.totals_changed,
            "promotions": list(view.totals.promotions) if view.totals else [],
            "errors": list(ctx.get("errors") or []) + list(view.errors),
        },
    }


# --- loading -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartFacts:
    """The checkout's cart as pricing and the hasValidCartItems guard see it."""

    cart_id: str
    currency: str
    lines: tuple[PricingLine, ...]
    problems: tuple[FieldError, ...] = ()
    status: str = "active"
    version: int = 0
    user_id: str | None = None
    # Any coupon applied (read with the lines): without one, pricing skips the coupon read.
    has_coupons: bool = True


_CART_LINES = (
    select(
        Cart.id,
        Cart.currency,
        Cart.status,
        CartItem.id,
        CartItem.product_id,
        CartItem.variant_id,
        CartItem.quantity,
        CartItem.price,
        Product.id,
        Product.active,
        Product.price,
        Product.weight_grams,
        Product.tax_category,
        Product.category,
        ProductVariant.id,
        ProductVariant.active,
        ProductVariant.price,
        ProductVariant.weight_grams,
        Cart.version,
        Cart.user_id,
        exists().where(AppliedCoupon.cart_id == Cart.id).label("has_coupons"),
    )
    .select_from(Cart)
    .outerjoin(CartItem, CartItem.cart_id == Cart.id)
    .outerjoin(Product, Product.id == CartItem.product_id)
    # A variant counts only under its own product (as ``sellables_for`` resolves it).
    .outerjoin(
        ProductVariant,
        and_(ProductVariant.id == CartItem.variant_id, ProductVariant.product_id == Product.id),
    )
    .order_by(CartItem.position)
    .where(Cart.id == bindparam("cart_id"))
)
# Built once (not per step): the cart's lines, and the same under the cart's row lock.
_CART_LINES_LOCKED = _CART_LINES.with_for_update(of=Cart)


@dataclass(frozen=True, slots=True)
class _Demand:
    product_id: str
    variant_id: str | None
    quantity: int


async def load_cart_facts(s: AsyncSession, cart_id: str, *, lock: bool = False) -> CartFacts:
    """Read the cart's lines once, priced as stored, checked against today's catalog.

    One joined SELECT of cart, lines, products and variants (tuples, no ORM objects: this
    runs at every checkout step), then one for the stock. ``lock``: the same SELECT takes
    the cart's row lock (CONFIRM_ORDER), so what it read is what gets reserved."""
    query = _CART_LINES_LOCKED if lock else _CART_LINES
    rows = (await s.execute(query, {"cart_id": cart_id})).all()
    if not rows:
        return CartFacts(cart_id, "USD", (), (FieldError(("cart",), "cart_missing", "Gone."),))
    currency, status = rows[0][1], rows[0][2]
    version, owner, has_coupons = rows[0][18], rows[0][19], bool(rows[0][20])
    lines: list[PricingLine] = []
    problems: list[FieldError] = []
    demand: list[_Demand] = []
    for pos, r in enumerate(row for row in rows if row[3] is not None):
        (item_id, product_id, variant_id, quantity, price) = r[3:8]
        found, p_active, p_price, p_weight, tax_category, category = r[8:14]
        v_found, v_active, v_price, v_weight = r[14:18]
        path: tuple[str | int, ...] = ("cart", "items", pos)
        has_variant = v_found is not None
        active = bool(p_active) and (not has_variant or bool(v_active))
        unit_price = v_price if has_variant and v_price is not None else p_price
        if found is None or not active:
            problems.append(FieldError(path, "item_unavailable", "This item is no longer sold."))
        elif unit_price != price:
            problems.append(
                FieldError(
                    path,
                    "price_changed",
                    f"The price changed from {price} to {unit_price}; review the cart.",
                )
            )
        weight = v_weight if has_variant and v_weight is not None else p_weight
        lines.append(
            PricingLine(
                line_id=item_id,
                product_id=product_id,
                variant_id=variant_id,
                quantity=quantity,
                unit_price=price,
                tax_category=str(tax_category) if found is not None else "standard",
                weight_grams=int(weight or 0) if found is not None else 0,
                category=str(category) if found is not None else "general",
            )
        )
        demand.append(_Demand(product_id, variant_id, quantity))
    if status != "active":
        problems.append(FieldError(("cart",), "cart_not_active", "This cart is closed."))
    # Stock at every step: lines the stock cannot cover now (the cart's own holds count).
    problems.extend(await cart_stock_problems(s, cart_id, demand))
    return CartFacts(
        cart_id, currency, tuple(lines), tuple(problems), status, version, owner, has_coupons
    )


def _address(ctx: dict[str, Any], key: str = "shipping_address") -> Address | None:
    raw = ctx.get(key)
    return Address.model_validate(raw) if raw else None


def _shipping(ctx: dict[str, Any]) -> ShippingOption | None:
    raw = ctx.get("shipping_method")
    return ShippingOption.from_json(raw) if raw else None


async def _price(
    rt: Runtime, s: AsyncSession, row: Checkout, ctx: dict[str, Any], cart: CartFacts
) -> OrderTotal:
    return await price_checkout(
        rt,
        s,
        PricingInput(
            cart_id=cart.cart_id,
            currency=cart.currency,
            lines=cart.lines,
            user_id=row.user_id,
            address=_address(ctx),
            shipping=_shipping(ctx),
            has_coupons=cart.has_coupons,
        ),
    )


async def _try_price(
    rt: Runtime, s: AsyncSession, row: Checkout, ctx: dict[str, Any], cart: CartFacts
) -> tuple[OrderTotal | None, tuple[dict[str, Any], ...]]:
    """Totals, or None and why (a read must still show the checkout when tax is down)."""
    try:
        return await _price(rt, s, row, ctx, cart), ()
    except ServiceUnavailable as exc:
        return None, ({"code": exc.code, "message": exc.message},)
    except ShippingNoLongerOffered:
        return None, (
            {"code": "shipping_method_not_offered", "message": "Choose a shipping method again."},
        )


def _view(
    row: Checkout, totals: OrderTotal | None, errors: tuple[dict[str, Any], ...] = ()
) -> CheckoutView:
    return CheckoutView(
        id=row.id,
        state=State(row.state),
        version=row.version,
        context=dict(row.context),
        expires_at=row.expires_at,
        created_at=row.created_at,
        totals=totals,
        errors=errors,
    )


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


def _with_checkout_id(column: Any, pg: bool) -> Any:
    """``column`` (a session's ``checkout_data``) with ``checkout_id`` set to the bound
    ``checkout_id``; anything but a JSON object (NULL, JSON null) counts as empty."""
    if pg:
        data = case(
            (func.jsonb_typeof(column) == "object", column), else_=literal_column("'{}'::jsonb")
        )
        return data.op("||")(
            func.jsonb_build_object("checkout_id", bindparam("checkout_id", type_=String()))
        )
    data = case((func.json_type(column) == "object", column), else_=literal_column("'{}'"))
    return func.json_set(data, "$.checkout_id", bindparam("checkout_id", type_=String()))


def _remember_statement(model: type[GuestSession] | type[RegisteredSession], pg: bool) -> Any:
    return (
        update(model)
        .where(model.id == bindparam("session_id"))
        .values(checkout_data=_with_checkout_id(model.__table__.c.checkout_data, pg))
    )


# (guest first?, PostgreSQL?) -> the two UPDATEs in the order to try them.
_REMEMBER = {
    (guest, pg): tuple(
        _remember_statement(model, pg)
        for model in (
            (GuestSession, RegisteredSession) if guest else (RegisteredSession, GuestSession)
        )
    )
    for guest in (True, False)
    for pg in (True, False)
}


async def _remember_on_session(s: AsyncSession, session: SessionContext, checkout_id: str) -> None:
    """Note the checkout on the caller's session row: login carries ``checkout_data`` over to
    the new registered session, so the checkout stays the caller's across the login.
    One UPDATE in the table the session most likely lives in (the other if none matched)."""
    pg = s.get_bind().dialect.name == "postgresql"
    conn = await s.connection()
    params = {"session_id": session.session_id, "checkout_id": checkout_id}
    for statement in _REMEMBER[(session.user_id is None, pg)]:
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
    rt: Runtime, session: SessionContext, *, actor: Actor = SYSTEM
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
            totals, errors = await _try_price(rt, s, live, live.context, cart)
            return _view(live, totals, errors), False
        facts = Facts(cart_item_count=len(cart.lines), cart_problems=cart.problems)
        try:
            step = machine.step(machine.INITIAL, Event.PROCEED_TO_CHECKOUT, facts)
        except machine.GuardRejected as exc:
            raise _guard_error(exc.failure) from exc
        row = Checkout(
            id=new_id("chk"),
            session_id=session.session_id,
            user_id=session.user_id,
            cart_id=session.cart_id,
            state=step.target.value,
            context=new_context(cart_id=session.cart_id, currency=cart.currency),
            version=1,
            expires_at=now + timedelta(seconds=rt.settings.checkout_ttl_seconds),
            created_at=now,
            updated_at=now,
        )
        # Priced before it is added: the row is INSERTed once, quote included.
        totals, errors = await _try_price(rt, s, row, row.context, cart)
        if totals is not None:
            row.context = {**row.context, "quoted_totals": list(totals.money_fingerprint())}
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
        return _view(row, totals, errors), True


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
        if _expired_by_time(row, rt.clock.now()):
            _attach(s, row)
            await _expire_locked(rt, s, row, SYSTEM)
        cart = await load_cart_facts(s, row.cart_id)
        totals, errors = await _try_price(rt, s, row, row.context, cart)
        return _view(row, totals, errors + _stock_errors(cart))


async def shipping_options(rt: Runtime, session: SessionContext, checkout_id: str) -> ShippingQuote:
    """The options offered for the checkout's shipping address and cart (409 without one)."""
    # Only reads, so no lock and (on PostgreSQL) no BEGIN/COMMIT: a quote never waits for a
    # step in flight, and SELECT_SHIPPING checks the chosen method against fresh facts.
    async with rt.db.reads() as s:
        row = await _owned(s, await _lock_detached(s, checkout_id, lock=False), session)
        address = _address(row.context)
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
        return await _prepare_shipping(rt, row, command.shipping_method_id, base, cart)
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
    rt: Runtime, row: Checkout, method_id: str, base: Facts, cart: CartFacts
) -> _Prepared:
    shipping_to = _address(row.context)
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


class _TotalsChanged(Exception):
    def __init__(self, view: CheckoutView, error: TillpointError | None = None) -> None:
        self.view = view
        self.error = error


# A coupon removed at CONFIRM_ORDER for one of these reasons was used up meanwhile.
_EXHAUSTED_REASONS = frozenset({"usage_limit_reached", "customer_limit_reached"})


def _refusal_of(refusal: _TotalsChanged) -> TillpointError:
    """409 ``totals_changed``, or ``coupon_exhausted`` when a coupon ran out (the coupon
    is off the cart and the new totals are shown: confirming again pays full price)."""
    view = refusal.view
    gone = [
        e
        for e in view.errors
        if e.get("code") == "coupon_removed" and e.get("reason") in _EXHAUSTED_REASONS
    ]
    details = {
        "totals": view.totals.to_json() if view.totals else None,
        "version": view.version,
        "notices": list(view.errors),
    }
    if refusal.error is not None:
        return type(refusal.error)(
            refusal.error.message,
            code=refusal.error.code,
            details={**refusal.error.details, **details},
        )
    if gone:
        codes = ", ".join(str(e.get("coupon_code")) for e in gone)
        return Conflict(
            f"The coupon {codes} has been used up; it was removed. "
            "Review the new total and place the order again.",
            code="coupon_exhausted",
            details={
                "coupons": [
                    {"coupon_id": e.get("coupon_id"), "code": e.get("coupon_code"),
                     "reason": e.get("reason")}
                    for e in gone
                ],
                **details,
            },
        )  # fmt: skip
    return Conflict(
        "The order total changed since you last saw it; review the new totals.",
        code="totals_changed",
        details=details,
    )


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
    """One event on a locked row; raises to refuse (the unit of work then rolls back).

    ``price=False`` (the finalize path, which reads back only state and context): a step
    whose transition has no guard neither loads nor prices the cart (view totals None)."""
    now = rt.clock.now()
    event = event_of(command)
    if if_match is not None and if_match != row.version:
        current_cart = await load_cart_facts(s, row.cart_id)
        current, problems = await _try_price(rt, s, row, row.context, current_cart)
        raise PreconditionFailed(
            "The checkout changed since you last read it.",
            details={"current": checkout_to_dict(_view(row, current, problems))},
        )
    source = State(row.state)
    # Only a customer's late event finds the checkout expired; the server's events
    # (gateway answers, webhooks) carry facts that must be recorded.
    if caller is not None and _expired_by_time(row, now):
        _attach(s, row)
        await _expire_locked(rt, s, row, actor)
        raise _Expired(_view(row, None))
    transition = machine.transition_for(source, event)
    if transition is None:
        raise Conflict(
            f"{event.value} is not allowed while the checkout is in {source.value}.",
            code="event_not_allowed",
            details={
                "state": source.value,
                "allowed_events": [
                    e.value for e in machine.allowed_events(source, include_server=False)
                ],
            },
        )
    if event is Event.LOGIN_SUCCEEDED and caller is not None and caller.user_id is not None:
        # The login opened a new session and may have merged the guest cart into the
        # user's: the checkout follows the session and its cart.
        row.session_id = caller.session_id
        row.cart_id = caller.cart_id
        row.context = {**row.context, "cart_id": caller.cart_id}
    bare = not price and transition.guard is None and event is not Event.CONFIRM_ORDER
    if bare:
        cart = CartFacts(row.cart_id, str(row.context.get("currency") or "USD"), ())
    else:
        cart = await load_cart_facts(s, row.cart_id, lock=event is Event.CONFIRM_ORDER)
    prepared = await _prepare(rt, s, row, command, user_id, cart)
    try:
        step = machine.step(source, event, prepared.facts)
    except machine.GuardRejected as exc:
        raise _guard_error(exc.failure) from exc
    context = apply_actions(row.context, step.transition.actions, prepared.data)
    if event in (Event.SELECT_REGISTERED, Event.LOGIN_SUCCEEDED):
        row.user_id = user_id
    totals: OrderTotal | None = None
    coupon_notices: tuple[dict[str, Any], ...] = ()
    if event is Event.CONFIRM_ORDER:
        # Under the cart's lock: another checkout (another device) paying for this cart
        # holds it; a second payment would re-price it and charge it again.
        await refuse_while_paying(rt, s, row.cart_id)
        # Coupons that no longer hold leave the cart now, with a notice (promotions),
        # checked against the lines just read under the cart's lock (not read again).
        # Their audit rows are recorded at the end: the audit head is the last lock taken.
        # No coupon in the locked read: none can be applied meanwhile (that takes the lock).
        coupon_notices = tuple(
            await revalidate_locked_cart(
                rt,
                s,
                row.cart_id,
                lines=cart.lines,
                currency=cart.currency,
                user_id=cart.user_id,
                email=(context.get("guest_info") or {}).get("email"),
            )
            if cart.has_coupons
            else ()
        )
        totals = await _price(rt, s, row, context, cart)  # tax down: 503, never a guess
        fingerprint = list(totals.money_fingerprint())
        if fingerprint != context.get("quoted_totals"):
            row.context = {**context, "quoted_totals": fingerprint}
            row.version += 1
            row.updated_at = now
            await audit_removals(s, row.cart_id, coupon_notices, actor, now)
            raise _TotalsChanged(_view(row, totals, coupon_notices))
    call = EffectCall(
        rt=rt,
        s=s,
        checkout=row,
        event=event,
        source=source,
        target=step.target,
        payload=dict(command.payload) if isinstance(command, ServerEvent) else {},
        context=context,
        actor=actor,
        totals=totals,
    )
    if event is Event.CONFIRM_ORDER:
        # The stock effect reserves these lines (a coupon removal above bumped the version).
        call.cart_lines = cart.lines
        call.cart_version = cart.version + (1 if coupon_notices else 0)
    if has_effects(rt.actions, step.transition.actions):
        _attach(s, row)  # effects see (and may flush) the row as the session's
    try:
        await run_effects(step.transition.actions, call)
    except RefuseKeeping as refused:
        # E.g. a coupon that ran out at CONFIRM_ORDER left the cart: stay, show the new total.
        totals = await _price(rt, s, row, row.context, cart)
        row.context = {**row.context, "quoted_totals": list(totals.money_fingerprint())}
        row.version += 1
        row.updated_at = now
        notices = coupon_notices + tuple(refused.notices)
        await audit_removals(s, row.cart_id, coupon_notices, actor, now)
        raise _TotalsChanged(_view(row, totals, notices), refused.error) from refused
    row.state = step.target.value
    row.version += 1
    row.updated_at = now
    row.expires_at = now + timedelta(seconds=rt.settings.checkout_ttl_seconds)
    pricing_errors: tuple[dict[str, Any], ...] = ()
    if bare:
        pass
    elif totals is None and event in machine.SERVER_EVENTS:
        # Server effects may write what pricing reads (coupon usage at order creation):
        # let it flush them, with the context, in the checkout's one UPDATE.
        row.context = call.context
        totals, pricing_errors = await _try_price(rt, s, row, call.context, cart)
    elif totals is None:
        # A customer's event writes nothing pricing reads (coupons are only touched at
        # CONFIRM_ORDER, priced above): price before flushing, so the state and the new
        # quote go out in one UPDATE of the checkout instead of two.
        with s.no_autoflush:
            totals, pricing_errors = await _try_price(rt, s, row, call.context, cart)
    if totals is not None and event not in machine.SERVER_EVENTS:
        call.context["quoted_totals"] = list(totals.money_fingerprint())
    row.context = call.context
    name = event.value.lower()
    moved: dict[str, Any] = {"from": source.value, "to": step.target.value, "version": row.version}
    if inspect(row).transient:
        # Read with Core for a customer's step (see _drive) and not handed to an effect:
        # one Core UPDATE, sent with the audit row; nothing of it for the session to flush.
        await _audit(s, rt, row, f"checkout_{name}", name, actor, moved, along=_saved(row))
    elif caller is not None and event not in _FLUSHED_STEPS and _only_row_changed(s, row):
        # The same for a row the session loaded, which then leaves the session.
        await _audit(s, rt, row, f"checkout_{name}", name, actor, moved, along=_saved(row))
        s.expunge(row)
    else:
        await s.flush()
        await audit_removals(s, row.cart_id, coupon_notices, actor, now)
        await _audit(s, rt, row, f"checkout_{name}", name, actor, moved)
    return _view(row, totals, pricing_errors + coupon_notices + _stock_errors(cart))


# Steps saved by a flush before their audit row: CONFIRM_ORDER (its effects write other
# rows), and those that set the user or cart keys, whose foreign-key checks lock the
# user's or cart's row: that must happen before the audit head is locked, not with it.
_FLUSHED_STEPS = frozenset({Event.CONFIRM_ORDER, Event.SELECT_REGISTERED, Event.LOGIN_SUCCEEDED})
# What a step may change on the checkout row, written whole (the row is locked).
_STEP_COLUMNS = ("session_id", "user_id", "cart_id", "state", "context", "version")
_SAVE_STEP = (
    update(_CHECKOUTS)
    .where(_CHECKOUTS.c.id == bindparam("c_id"))
    .values(
        {
            name: bindparam(f"c_{name}", type_=_CHECKOUTS.c[name].type)
            for name in (*_STEP_COLUMNS, "expires_at", "updated_at")
        }
    )
)


def _saved(row: Checkout) -> Along:
    """The UPDATE that writes a step's changes to ``row``."""
    params = {f"c_{name}": getattr(row, name) for name in _STEP_COLUMNS}
    params.update(c_id=row.id, c_expires_at=row.expires_at, c_updated_at=row.updated_at)
    return Along(_SAVE_STEP, params)


def _only_row_changed(s: AsyncSession, row: Checkout) -> bool:
    """Nothing but ``row`` waits to be flushed (no effect added or changed other rows)."""
    return not s.new and not s.deleted and all(obj is row for obj in s.dirty)


def _stock_errors(cart: CartFacts) -> tuple[dict[str, Any], ...]:
    """Out-of-stock lines, reported with every step so the customer learns early."""
    return tuple(p.as_dict() for p in cart.problems if p.code == "out_of_stock")


async def _forget_cart_if_coupons_removed(rt: Runtime, view: CheckoutView) -> None:
    """After commit: a cart that lost coupons at CONFIRM_ORDER must not be served from cache."""
    if any(e.get("code") == "coupon_removed" for e in view.errors):
        await cart_cache.invalidate(rt, str(view.context.get("cart_id") or ""))


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
    refusal: _TotalsChanged | _Expired | None = None
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
        except (_TotalsChanged, _Expired) as kept:
            # Keep what the refusal changed (expiry, the new quote): commit, then answer.
            await s.flush()
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
    raise _refusal_of(refusal)


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


async def _expire_locked(rt: Runtime, s: AsyncSession, row: Checkout, actor: Actor) -> None:
    source = State(row.state)
    step = machine.step(source, Event.EXPIRE, Facts())
    context = dict(row.context)
    call = EffectCall(rt, s, row, Event.EXPIRE, source, step.target, {}, context, actor)
    await run_effects(step.transition.actions, call)
    row.state = step.target.value
    row.context = call.context
    row.version += 1
    row.updated_at = rt.clock.now()
    await s.flush()
    await _audit(s, rt, row, "checkout_expired", "expire", actor, {"from": source.value})


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
            if rt.db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            row = (await s.scalars(q)).first()
            if row is None:  # taken by a request or another sweeper meanwhile
                continue
            await _expire_locked(rt, s, row, SYSTEM)
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
