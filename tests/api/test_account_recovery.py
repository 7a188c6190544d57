"""Password reset and e-mail verification over HTTP: links mailed through the outbox,
single-use, expiring, stored hashed; a reset ends every session (in Redis too); neither
flow says whether an account exists. With and without the Redis session cache."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.auth import session_cache
from tillpoint.auth.cookies import cookie_names
from tillpoint.auth.models import AccountToken
from tillpoint.auth.tokens import session_id_for
from tillpoint.mail.render import shop_base_url
from tillpoint.outbox.models import OutboxMessage
from tillpoint.outbox.service import LogSender, deliver_pending
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep

NEW_PASSWORD = "walnut-harbour-compass-9"


@pytest.fixture(params=["db-only", "redis-cache"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis-cache":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


async def _mails(rt: Runtime, kind: str) -> list[OutboxMessage]:
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return list(rows)


def _token(mail: OutboxMessage) -> str:
    return parse_qs(urlsplit(mail.payload["link"]).query)["token"][0]


async def _audit(rt: Runtime, event: str) -> list[AuditLog]:
    async with rt.db.transaction() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.event_type == event)))


async def _ask_reset(api: Api, email: str) -> Any:
    return await api.post("/api/auth/password-reset", json={"email": email})


async def test_reset_answer_is_the_same_for_unknown_and_known_addresses(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    known = await _ask_reset(api, USER_EMAIL.upper())
    unknown = await _ask_reset(api, "nobody@shop.example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert dict(known.headers).keys() == dict(unknown.headers).keys()
    mails = await _mails(rt, "password_reset")
    assert [m.recipient for m in mails] == [USER_EMAIL]  # only the account gets a mail
    requested = await _audit(rt, "password_reset_requested")
    assert sorted(bool(r.meta["account"]) for r in requested) == [False, True]


async def test_reset_link_is_stored_hashed_and_mailed_in_text_and_html(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    await _ask_reset(api, USER_EMAIL)
    [mail] = await _mails(rt, "password_reset")
    token = _token(mail)
    assert mail.payload["link"].startswith(f"{shop_base_url(rt.settings)}/account/reset?token=")
    assert mail.payload["link"] in mail.payload["text"]
    assert "<a href=" in mail.payload["html"] and "60 minutes" in mail.payload["text"]
    async with rt.db.transaction() as s:
        [row] = list(await s.scalars(select(AccountToken)))
    assert row.id == hashlib.sha256(token.encode()).hexdigest() and token not in row.id
    sender = LogSender()
    assert await deliver_pending(rt, sender) >= 1
    assert any(m.kind == "password_reset" for m in sender.sent)


async def test_reset_works_once_and_ends_every_session(
    user_api: Api, new_api: Any, rt: Runtime
) -> None:
    other_device: Api = await new_api()
    assert (await other_device.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    assert (await other_device.get("/api/auth/me")).status_code == 200  # cached, if Redis
    stranger: Api = await new_api()
    await _ask_reset(stranger, USER_EMAIL)
    token = _token((await _mails(rt, "password_reset"))[0])
    body = {"token": token, "password": NEW_PASSWORD}
    r = await stranger.post("/api/auth/password-reset/confirm", json=body)
    assert r.status_code == 200, r.text
    again = await stranger.post("/api/auth/password-reset/confirm", json=body)
    assert again.status_code == 422 and error_code(again) == "token_used"
    for device in (user_api, other_device):
        me = await device.get("/api/auth/me")
        assert me.status_code == 401 and error_code(me) == "session_expired"
    if rt.redis is not None:  # every instance sees it: the revocation marker is in Redis
        sid = session_id_for(other_device.client.cookies[cookie_names(rt.settings).session])
        assert await session_cache.cached(rt, sid) is session_cache.REVOKED
    fresh: Api = await new_api()
    assert (await fresh.login(USER_EMAIL, USER_PASSWORD)).status_code == 401
    assert (await fresh.login(USER_EMAIL, NEW_PASSWORD)).status_code == 200
    [done] = await _audit(rt, "password_reset_completed")
    assert done.meta["sessions"] == 2


async def test_reset_link_expires(
    user_api: Api, api: Api, new_api: Any, rt: Runtime, clock: MovableClock
) -> None:
    await _ask_reset(api, USER_EMAIL)
    token = _token((await _mails(rt, "password_reset"))[0])
    clock.advance(seconds=rt.settings.password_reset_ttl_seconds + 1)
    r = await api.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 422 and error_code(r) == "token_expired"
    fresh: Api = await new_api()
    assert (await fresh.login(USER_EMAIL, USER_PASSWORD)).status_code == 200  # unchanged


async def test_the_sweeper_drops_links_that_can_no_longer_be_used(
    user_api: Api, api: Api, rt: Runtime, clock: MovableClock
) -> None:
    await _ask_reset(api, USER_EMAIL)
    assert (await run_sweep(rt))["account_tokens"] == 0  # still usable: kept
    clock.advance(seconds=rt.settings.password_reset_ttl_seconds + 1)
    assert (await run_sweep(rt))["account_tokens"] == 1
    async with rt.db.transaction() as s:
        assert list(await s.scalars(select(AccountToken))) == []


async def test_a_newer_link_retires_the_older_one(
    user_api: Api, api: Api, rt: Runtime, clock: MovableClock
) -> None:
    await _ask_reset(api, USER_EMAIL)
    clock.advance(seconds=1)
    await _ask_reset(api, USER_EMAIL)
    first, second = (_token(m) for m in await _mails(rt, "password_reset"))
    r = await api.post(
        "/api/auth/password-reset/confirm", json={"token": first, "password": NEW_PASSWORD}
    )
    assert error_code(r) == "token_used"
    r = await api.post(
        "/api/auth/password-reset/confirm", json={"token": second, "password": NEW_PASSWORD}
    )
    assert r.status_code == 200, r.text


async def test_reset_refuses_weak_passwords_and_unknown_tokens(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    await _ask_reset(api, USER_EMAIL)
    token = _token((await _mails(rt, "password_reset"))[0])
    weak = await api.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": "short"}
    )
    assert weak.status_code == 422 and error_code(weak) == "weak_password"
    bogus = await api.post(
        "/api/auth/password-reset/confirm", json={"token": "x" * 43, "password": NEW_PASSWORD}
    )
    assert bogus.status_code == 422 and error_code(bogus) == "token_invalid"
    # The weak attempt did not use the link up.
    ok = await api.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_account_email": "2/hour", "rate_limit_account_email_per_address": "3/hour"}],
)
async def test_reset_requests_are_limited_per_address_and_per_ip(api: Api, rt: Runtime) -> None:
    for _ in range(2):
        assert (await _ask_reset(api, "someone@shop.example.com")).status_code == 202
    r = await _ask_reset(api, "someone@shop.example.com")
    assert r.status_code == 429 and error_code(r) == "too_many_email_requests"
    assert int(r.headers["Retry-After"]) > 0
    assert (await _ask_reset(api, "other@shop.example.com")).status_code == 202
    r = await _ask_reset(api, "third@shop.example.com")  # the IP's fourth request
    assert r.status_code == 429


async def test_registration_mails_a_verification_link_that_works_once(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    r = await api.register("fresh@shop.example.com", NEW_PASSWORD)
    assert r.status_code == 201 and r.json()["user"]["email_verified"] is False
    [mail] = await _mails(rt, "email_verification")
    assert mail.recipient == "fresh@shop.example.com"
    assert "/account/verify?token=" in mail.payload["link"]
    anyone: Api = await new_api()  # the link works in any browser
    ok = await anyone.post("/api/auth/verify-email", json={"token": _token(mail)})
    assert ok.status_code == 200, ok.text
    assert (await api.get("/api/auth/me")).json()["email_verified"] is True
    again = await anyone.post("/api/auth/verify-email", json={"token": _token(mail)})
    assert again.status_code == 422 and error_code(again) == "token_used"
    assert len(await _audit(rt, "email_verified")) == 1


async def test_verification_resend_needs_sign_in_and_stops_once_verified(
    api: Api, new_api: Any, rt: Runtime, clock: MovableClock
) -> None:
    guest: Api = await new_api()
    r = await guest.post("/api/auth/verify-email/resend")
    assert r.status_code == 401
    await api.register("fresh@shop.example.com", NEW_PASSWORD)
    clock.advance(seconds=1)
    r = await api.post("/api/auth/verify-email/resend")
    assert r.status_code == 202, r.text
    first, second = await _mails(rt, "email_verification")
    old = await api.post("/api/auth/verify-email", json={"token": _token(first)})
    assert error_code(old) == "token_used"  # the newer mail is the one that works
    assert (await api.post("/api/auth/verify-email", json={"token": _token(second)})).is_success
    r = await api.post("/api/auth/verify-email/resend")
    assert r.status_code == 202 and "already" in r.json()["message"]
    assert len(await _mails(rt, "email_verification")) == 2


async def test_a_reset_token_does_not_verify_and_vice_versa(api: Api, rt: Runtime) -> None:
    await api.register("fresh@shop.example.com", NEW_PASSWORD)
    verify_token = _token((await _mails(rt, "email_verification"))[0])
    r = await api.post(
        "/api/auth/password-reset/confirm",
        json={"token": verify_token, "password": NEW_PASSWORD + "x"},
    )
    assert r.status_code == 422 and error_code(r) == "token_invalid"
    await _ask_reset(api, "fresh@shop.example.com")
    reset_token = _token((await _mails(rt, "password_reset"))[0])
    r = await api.post("/api/auth/verify-email", json={"token": reset_token})
    assert r.status_code == 422 and error_code(r) == "token_invalid"
