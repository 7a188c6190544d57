"""Checkout sessions: a shop's server asks for a purchase (``POST /api/v1/checkout-sessions``),
the shopper pays on tillpoint's checkout page, the shop reads the outcome back.

A session is ``open`` until an order is made from it (``complete``) or it runs out or is
expired (``expired``). Its lines are resolved when it is made: a ``sku`` line against the
catalog (known, sellable, in stock), a ``price_data`` line to an unlisted product of the
catalog (``catalog/unlisted.py``), so the checkout that follows is the ordinary one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.catalog.public import PriceData, sellable_by_sku, unlisted_product
from tillpoint.checkout_sessions.models import CheckoutSession
from tillpoint.checkout_sessions.redirect_urls import check_redirect_url
from tillpoint.checkout_sessions.requests import CheckoutSessionIn, LineItemIn
from tillpoint.errors import Conflict, FieldError, InvalidInput, NotFound
from tillpoint.ids import is_valid_id, new_id
from tillpoint.inventory.public import stock_status_for
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import CheckoutSessionData, CheckoutSessionLine

OPEN = "open"
COMPLETE = "complete"
EXPIRED = "expired"
PAGE_PATH = "/checkout/sessions/"


@dataclass(frozen=True, slots=True)
class Creator:
    """Who asks for the session: the API key, and the retry key it sent, if any."""

    api_key_id: str | None
    idempotency_key: str | None = None
    actor: Actor = SYSTEM

    @property
    def stored_key(self) -> str | None:
        """The retry key as stored: one API key's keys never answer for another's."""
        if not self.idempotency_key:
            return None
        return f"{self.api_key_id or '-'}:{self.idempotency_key}"


def request_hash(body: CheckoutSessionIn) -> str:
    """The body as sent (defaults applied), canonically: an Idempotency-Key retry must match."""
    text = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _invalid(path: tuple[str | int, ...], code: str, message: str) -> InvalidInput:
    return InvalidInput(message, code=code, fields=[FieldError(path, code, message)])


def _check_quantities(rt: Runtime, i: int, item: LineItemIn) -> tuple[int, int]:
    """The line's (minimum, maximum) quantity: its own quantity unless adjustable."""
    cap = rt.settings.cart_max_line_quantity
    if item.quantity > cap:
        raise _invalid(
            ("line_items", i, "quantity"), "quantity_out_of_range", f"At most {cap} per line."
        )
    adjustable = item.adjustable_quantity
    if adjustable is None or not adjustable.enabled:
        return item.quantity, item.quantity
    low, high = max(adjustable.minimum, 1), adjustable.maximum
    if high > cap or not low <= item.quantity <= high:
        raise _invalid(
            ("line_items", i, "adjustable_quantity"),
            "quantity_out_of_range",
            f"Bounds must be 1..{cap} and hold the line's quantity.",
        )
    return low, high


async def _resolve_line(rt: Runtime, s: AsyncSession, i: int, item: LineItemIn) -> dict[str, Any]:
    low, high = _check_quantities(rt, i, item)
    currency = rt.settings.default_currency
    base = {"quantity": item.quantity, "min": low, "max": high}
    if item.price_data is not None:
        data = item.price_data
        if data.currency.upper() != currency:
            raise _invalid(
                ("line_items", i, "price_data", "currency"),
                "currency_mismatch",
                f"This shop sells in {currency}.",
            )
        draft = PriceData(data.name, data.unit_amount, currency, data.tax_category)
        product_id = await unlisted_product(s, draft)
        return {**base, "product_id": product_id, "variant_id": None, "sku": None,
                "name": data.name, "unit_amount": data.unit_amount, "price_data": True}  # fmt: skip
    sellable = await sellable_by_sku(s, item.sku or "")
    if sellable is None:
        raise _invalid(("line_items", i, "sku"), "unknown_sku", "No product for sale has this SKU.")
    if sellable.product.currency != currency:
        raise _invalid(("line_items", i, "sku"), "currency_mismatch", "Priced in another currency.")
    return {**base, "product_id": sellable.product.id,
            "variant_id": sellable.variant.id if sellable.variant else None,
            "sku": sellable.sku, "name": sellable.name, "unit_amount": sellable.unit_price,
            "price_data": False}  # fmt: skip


async def _check_stock(rt: Runtime, s: AsyncSession, lines: list[dict[str, Any]]) -> None:
    demand: dict[tuple[str, str | None], int] = {}
    for line in lines:
        key = (line["product_id"], line["variant_id"])
        demand[key] = demand.get(key, 0) + line["quantity"]
    status = await stock_status_for(rt, s, demand)
    for i, line in enumerate(lines):
        if not status[(line["product_id"], line["variant_id"])].in_stock:
            raise _invalid(("line_items", i, "sku"), "out_of_stock", "Not enough in stock.")


async def _replay(s: AsyncSession, key: str, digest: str) -> CheckoutSession | None:
    row = await s.scalar(select(CheckoutSession).where(CheckoutSession.idempotency_key == key))
    if row is not None and row.request_hash != digest:
        raise Conflict(
            "This Idempotency-Key was used with another request body.",
            code="idempotency_key_reused",
        )
    return row


async def audit(
    rt: Runtime, s: AsyncSession, row: CheckoutSession, action: str, actor: Actor
) -> None:
    meta = {"status": row.status, "client_reference_id": row.client_reference_id}
    event = AuditEvent(f"checkout_session_{action}", "checkout_session", row.id, action, meta)
    await record(s, event, actor, rt.clock.now())


async def create_session(
    rt: Runtime, body: CheckoutSessionIn, who: Creator
) -> tuple[CheckoutSession, bool]:
    """The new session (and True), or the one this Idempotency-Key made (and False)."""
    success_url = check_redirect_url(rt.settings, "success_url", body.success_url)
    cancel_url = check_redirect_url(rt.settings, "cancel_url", body.cancel_url)
    digest = request_hash(body)
    stored = who.stored_key
    try:
        async with rt.db.transaction() as s:
            if stored and (found := await _replay(s, stored, digest)):
                return found, False
            lines = [await _resolve_line(rt, s, i, item) for i, item in enumerate(body.line_items)]
            await _check_stock(rt, s, lines)
            row = _new_row(rt, body, who, lines, digest, success_url, cancel_url)
            s.add(row)
            await s.flush()
            await audit(rt, s, row, "created", who.actor)
            return row, True
    except IntegrityError:
        if not stored:
            raise
    # Two retries with one key at once: the other one made it.
    async with rt.db.transaction() as s:
        found = await _replay(s, stored, digest)
        if found is None:
            raise Conflict("Retry the request.", code="idempotency_conflict")
        return found, False


def _new_row(
    rt: Runtime,
    body: CheckoutSessionIn,
    who: Creator,
    lines: list[dict[str, Any]],
    digest: str,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    now = rt.clock.now()
    subtotal = sum(line["unit_amount"] * line["quantity"] for line in lines)
    return CheckoutSession(
        id=new_id("cs"), status=OPEN, api_key_id=who.api_key_id,
        idempotency_key=who.stored_key, request_hash=digest, success_url=success_url,
        cancel_url=cancel_url, customer_email=body.customer_email,
        client_reference_id=body.client_reference_id, meta=dict(body.metadata),
        allow_coupons=body.allow_coupons, currency=rt.settings.default_currency, lines=lines,
        amount_subtotal=subtotal, amount_discount=0, amount_shipping=0, amount_tax=0,
        amount_total=subtotal, expires_at=now + timedelta(seconds=body.expires_in),
        created_at=now,
    )  # fmt: skip


def _not_found() -> NotFound:
    return NotFound("No such checkout session.", code="checkout_session_not_found")


async def load_session(s: AsyncSession, cs_id: str, *, lock: bool = False) -> CheckoutSession:
    if not is_valid_id(cs_id, "cs"):
        raise _not_found()
    row = await s.get(CheckoutSession, cs_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise _not_found()
    return row


async def get_session(rt: Runtime, cs_id: str) -> CheckoutSession:
    async with rt.db.transaction() as s:
        return await load_session(s, cs_id)


def session_data(row: CheckoutSession, base_url: str) -> CheckoutSessionData:
    """The session as the API and its webhook events show it."""
    url = f"{base_url.rstrip('/')}{PAGE_PATH}{row.id}" if row.status == OPEN else None
    return CheckoutSessionData(
        id=row.id, status=row.status, url=url, expires_at=row.expires_at,
        created_at=row.created_at, success_url=row.success_url, cancel_url=row.cancel_url,
        client_reference_id=row.client_reference_id, customer_email=row.customer_email,
        metadata=dict(row.meta), allow_coupons=row.allow_coupons, currency=row.currency,
        amount_subtotal=row.amount_subtotal, amount_discount=row.amount_discount,
        amount_shipping=row.amount_shipping, amount_tax=row.amount_tax,
        amount_total=row.amount_total,
        line_items=[
            CheckoutSessionLine(
                sku=line["sku"], name=line["name"], quantity=line["quantity"],
                unit_amount=line["unit_amount"],
                amount_total=line.get("amount_total", line["unit_amount"] * line["quantity"]),
            )
            for line in row.lines
        ],
        order_id=row.order_id, order_number=row.order_number,
    )  # fmt: skip
