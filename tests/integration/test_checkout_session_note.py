"""Starting a checkout notes its id in the caller's session row (guest or registered),
keeping whatever else ``checkout_data`` holds: one UPDATE computed by the database."""

from __future__ import annotations

import dataclasses

from tillpoint.auth import service
from tillpoint.auth.guest_sessions import save_checkout_data, start_guest_session
from tillpoint.auth.models import GuestSession, RegisteredSession
from tillpoint.auth.service import Client
from tillpoint.auth.throttle import LoginThrottle, ThrottlePolicy
from tillpoint.checkout.service import _remember_on_session, adopt_checkouts
from tillpoint.runtime import Runtime
from tillpoint.security.attempts import MemoryAttempts

PASSWORD = "plum-orchard-lantern-7"
POLICY = ThrottlePolicy(max_failures=5, window_seconds=900, block_seconds=1800)


async def test_a_guest_session_keeps_its_other_checkout_data(rt: Runtime) -> None:
    _token, guest = await start_guest_session(rt, ip_address=None, user_agent=None)
    async with rt.db.transaction() as s:
        await _remember_on_session(s, guest, "chk_first")  # checkout_data was NULL
    async with rt.db.transaction() as s:
        row = await s.get(GuestSession, guest.session_id)
        assert row is not None and row.checkout_data == {"checkout_id": "chk_first"}
    await save_checkout_data(rt, guest.session_id, {"state": "shipping_address", "email": "x"})
    for checkout_id in ("chk_second", "chk_third"):
        async with rt.db.transaction() as s:
            await _remember_on_session(s, guest, checkout_id)
    async with rt.db.transaction() as s:
        row = await s.get(GuestSession, guest.session_id, populate_existing=True)
        assert row is not None
        assert row.checkout_data == {
            "state": "shipping_address",
            "email": "x",
            "checkout_id": "chk_third",
        }


async def test_a_registered_session_is_noted_whichever_table_is_tried_first(
    rt: Runtime,
) -> None:
    await service.create_user(rt, email="note@shop.example.com", password=PASSWORD)
    signed = await service.login(
        rt,
        LoginThrottle(MemoryAttempts(), POLICY),
        email="note@shop.example.com",
        password=PASSWORD,
        client=Client(),
        adopt=adopt_checkouts,
    )
    session = signed.context
    async with rt.db.transaction() as s:
        await _remember_on_session(s, session, "chk_first")  # checkout_data was JSON null
    async with rt.db.transaction() as s:
        row = await s.get(RegisteredSession, session.session_id)
        assert row is not None and row.checkout_data == {"checkout_id": "chk_first"}
    # A context that looks like a guest's still finds the registered row (second try).
    async with rt.db.transaction() as s:
        await _remember_on_session(s, dataclasses.replace(session, user_id=None), "chk_2")
    async with rt.db.transaction() as s:
        row = await s.get(RegisteredSession, session.session_id, populate_existing=True)
        assert row is not None and row.checkout_data == {"checkout_id": "chk_2"}
