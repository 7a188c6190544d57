"""Saved payment methods for registered customers: one gateway customer per user,
created on first need; listing, saving and removing only ever touch that customer's
methods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tillpoint.auth.public import User
from tillpoint.errors import FieldError, NotFound, Unauthorized
from tillpoint.payments.gateway import (
    CustomerNotFound,
    PaymentGateway,
    PaymentMethodNotFound,
    SavedPaymentMethod,
    SetupIntentResult,
)
from tillpoint.payments.models import PaymentCustomer
from tillpoint.runtime import Runtime

T = TypeVar("T")


def _require_user(user_id: str | None) -> str:
    if user_id is None:
        raise Unauthorized("Log in to use saved payment methods.", code="login_required")
    return user_id


async def customer_for(
    rt: Runtime, gateway: PaymentGateway, user_id: str | None, *, lost: str | None = None
) -> str:
    """The gateway customer id of ``user_id``, creating it at the gateway on first use;
    ``lost``: the id we kept but the gateway no longer knows, replaced by a new one."""
    uid = _require_user(user_id)
    async with rt.db.transaction() as s:
        kept = await s.get(PaymentCustomer, (uid, gateway.name))
        if kept is not None and kept.customer_id != lost:
            return kept.customer_id
        user = await s.get(User, uid)
        if user is None:
            raise NotFound("No such user.", code="user_not_found")
        email = user.email
    # Keyed by user (and the lost id): two racing first uses create one gateway customer.
    key = f"tillpoint:user:{uid}" + (f":after:{lost}" if lost else "")
    customer = await gateway.create_customer(
        email=email, name=None, idempotency_key=key, metadata={"user_id": uid}
    )
    async with rt.db.transaction() as s:
        existing = await s.get(PaymentCustomer, (uid, gateway.name))
        if existing is not None and existing.customer_id != lost:
            return existing.customer_id
        if existing is not None:
            existing.customer_id = customer.id
        else:
            s.add(
                PaymentCustomer(
                    user_id=uid,
                    gateway=gateway.name,
                    customer_id=customer.id,
                    created_at=rt.clock.now(),
                )
            )
    return customer.id


async def _with_customer(
    rt: Runtime,
    gateway: PaymentGateway,
    user_id: str | None,
    use: Callable[[str], Awaitable[T]],
) -> T:
    """``use`` the user's gateway customer; one the gateway lost is made again, once."""
    customer = await customer_for(rt, gateway, user_id)
    try:
        return await use(customer)
    except CustomerNotFound:
        return await use(await customer_for(rt, gateway, user_id, lost=customer))


async def list_saved_methods(
    rt: Runtime, gateway: PaymentGateway, user_id: str | None
) -> list[SavedPaymentMethod]:
    """The user's saved cards (brand, last 4, expiry; never a number)."""
    return await _with_customer(rt, gateway, user_id, gateway.list_payment_methods)


async def start_saving_method(
    rt: Runtime, gateway: PaymentGateway, user_id: str | None, *, request_key: str
) -> SetupIntentResult:
    """A SetupIntent whose client secret lets Stripe.js save a card for the user."""

    async def start(customer: str) -> SetupIntentResult:
        return await gateway.create_setup_intent(customer, idempotency_key=request_key)

    return await _with_customer(rt, gateway, user_id, start)


async def save_method(
    rt: Runtime, gateway: PaymentGateway, user_id: str | None, payment_method_id: str
) -> SavedPaymentMethod:
    """Attach a payment method (tokenised by Stripe.js) to the user's customer; 422
    ``payment_method_not_found`` (field ``payment_method_id``) if the gateway has none."""

    async def attach(customer: str) -> SavedPaymentMethod:
        return await gateway.attach_payment_method(payment_method_id, customer)

    try:
        return await _with_customer(rt, gateway, user_id, attach)
    except PaymentMethodNotFound as exc:
        field = FieldError(("payment_method_id",), exc.code, "No such payment method.")
        raise PaymentMethodNotFound(exc.message, fields=[field]) from exc


async def remove_method(
    rt: Runtime, gateway: PaymentGateway, user_id: str | None, payment_method_id: str
) -> None:
    """Detach one of the user's own saved methods (404 for anyone else's)."""
    owned = {m.id for m in await list_saved_methods(rt, gateway, user_id)}
    if payment_method_id not in owned:
        raise NotFound("No such saved payment method.", code="payment_method_not_found")
    await gateway.detach_payment_method(payment_method_id)


async def owns_method(
    rt: Runtime, gateway: PaymentGateway, user_id: str | None, payment_method_id: str
) -> bool:
    """True if ``payment_method_id`` is one of the user's saved methods."""
    if user_id is None:
        return False
    methods = await list_saved_methods(rt, gateway, user_id)
    return any(m.id == payment_method_id for m in methods)
