"""What checkout_sessions offers the rest of tillpoint: making, reading and expiring
sessions (the ``/api/v1`` routes), opening one in a browser, the effects the composition
root puts in the checkout's action table, and the sweep job.

Other packages import this feature through this module only."""

from tillpoint.checkout_sessions.browser import open_in_browser, page_links
from tillpoint.checkout_sessions.lifecycle import (
    claim_for_payment,
    complete_on_order,
    expire_due_sessions,
    expire_session,
    lock_for_order,
)
from tillpoint.checkout_sessions.redirect_urls import success_url_for
from tillpoint.checkout_sessions.requests import CheckoutSessionIn
from tillpoint.checkout_sessions.service import (
    COMPLETE,
    Creator,
    create_session,
    get_session,
    session_data,
)

__all__ = [
    "COMPLETE",
    "CheckoutSessionIn",
    "Creator",
    "claim_for_payment",
    "complete_on_order",
    "create_session",
    "expire_due_sessions",
    "expire_session",
    "get_session",
    "lock_for_order",
    "open_in_browser",
    "page_links",
    "session_data",
    "success_url_for",
]
