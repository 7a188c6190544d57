"""The shopper's side: opening a session's ``url`` in a browser, and what the checkout
page shows for a session's cart ("Back to shop", where to go once paid).

Opening the url starts a fresh guest session whose cart holds exactly the session's lines,
each locked (``cart/locks.py``); the same browser opening it again resumes that cart.
Each other browser gets a cart of its own; only one of them can pay
(``lifecycle.claim_for_payment``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from tillpoint.auth.public import SessionContext, start_guest_session
from tillpoint.cart.public import LineLock, LockedLine, fill_locked_cart
from tillpoint.checkout_sessions.models import CheckoutSession, CheckoutSessionCart
from tillpoint.checkout_sessions.redirect_urls import success_url_for
from tillpoint.checkout_sessions.service import OPEN, get_session
from tillpoint.ids import is_valid_id
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Opened:
    """``token``/``context``: a new guest session to hand the browser (None: resume, or
    the session is no longer open: ``ended``)."""

    session: CheckoutSession
    ended: bool = False
    token: str | None = None
    context: SessionContext | None = None


@dataclass(frozen=True, slots=True)
class PageLinks:
    """What the checkout page of a session's cart links to."""

    checkout_session_id: str
    cancel_url: str
    success_url: str
    allow_coupons: bool
    customer_email: str | None


def is_open(rt: Runtime, row: CheckoutSession) -> bool:
    return row.status == OPEN and row.expires_at > rt.clock.now()


async def open_in_browser(
    rt: Runtime,
    cs_id: str,
    current_cart_id: str | None,
    *,
    ip_address: str | None,
    user_agent: str | None,
) -> Opened:
    """Resume, start, or report the session ended (404 for an unknown id)."""
    row = await get_session(rt, cs_id)
    if not is_open(rt, row):
        return Opened(row, ended=True)
    if current_cart_id is not None:
        async with rt.db.transaction() as s:
            mine = await s.get(CheckoutSessionCart, current_cart_id)
        if mine is not None and mine.checkout_session_id == row.id:
            return Opened(row)
    token, ctx = await start_guest_session(rt, ip_address=ip_address, user_agent=user_agent)
    lines = [
        LockedLine(
            line["product_id"], line["variant_id"], line["quantity"],
            LineLock(row.id, line["min"], line["max"], row.allow_coupons),
        )
        for line in row.lines
    ]  # fmt: skip
    await fill_locked_cart(rt, ctx.cart_id, lines)
    async with rt.db.transaction() as s:
        s.add(
            CheckoutSessionCart(
                cart_id=ctx.cart_id, checkout_session_id=row.id,
                guest_session_id=ctx.session_id, created_at=rt.clock.now(),
            )
        )  # fmt: skip
    return Opened(row, token=token, context=ctx)


async def page_links(
    rt: Runtime, *, cart_id: str | None = None, cs_id: str | None = None
) -> PageLinks | None:
    """The session links of the checkout page: of session ``cs_id`` (the url's redirect
    names it: the page's own first load may come without the SameSite=Strict cookie after
    the shop's cross-site link), else of ``cart_id``'s session; None for an ordinary cart."""
    query = select(CheckoutSession)
    if cs_id is not None:
        if not is_valid_id(cs_id, "cs"):
            return None
        query = query.where(CheckoutSession.id == cs_id)
    elif cart_id is not None:
        query = query.join(
            CheckoutSessionCart, CheckoutSessionCart.checkout_session_id == CheckoutSession.id
        ).where(CheckoutSessionCart.cart_id == cart_id)
    else:
        return None
    async with rt.db.transaction() as s:
        row = await s.scalar(query)
    if row is None:
        return None
    return PageLinks(
        row.id,
        row.cancel_url,
        success_url_for(row.success_url, row.id),
        row.allow_coupons,
        row.customer_email,
    )
