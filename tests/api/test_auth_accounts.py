"""Accounts over HTTP: register, login, logout, me, and the admin/customer fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support import Api, error_code

PASSWORD = "plum-orchard-lantern-7"


async def test_register_logs_in_and_me_answers(api: Api) -> None:
    r = await api.register("  New.Person@Shop.Example.COM ", PASSWORD)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["kind"] == "registered" and body["user"]["role"] == "customer"
    assert body["user"]["email"] == "new.person@shop.example.com"
    me = await api.get("/api/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["id"] == body["user"]["id"]


async def test_login_logout_and_me(user_api: Api, new_api: Any) -> None:
    me = await user_api.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["email"] == USER_EMAIL
    r = await user_api.logout()
    assert r.status_code == 200 and r.json()["kind"] == "guest"
    me = await user_api.get("/api/auth/me")
    assert me.status_code == 401 and error_code(me) == "login_required"
    again: Api = await new_api()
    assert (await again.login(USER_EMAIL, USER_PASSWORD)).status_code == 200


async def test_admin_fixture_passes_admin_dependency(admin_api: Api, user_api: Api) -> None:
    assert (await admin_api.get("/api/auth/me")).json()["role"] == "admin"
    assert (await user_api.get("/api/auth/me")).json()["role"] == "customer"


async def test_me_without_login_is_401(api: Api) -> None:
    r = await api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "login_required"


async def test_register_refuses_bad_email_and_weak_passwords(api: Api) -> None:
    r = await api.register("not-an-email", PASSWORD)
    assert r.status_code == 422 and error_code(r) == "invalid_email"
    assert r.json()["error"]["fields"][0]["path"] == ["email"]
    r = await api.register("a@shop.example.com", "short")
    assert r.status_code == 422 and error_code(r) == "weak_password"
    assert r.json()["error"]["fields"][0]["code"] == "password_too_short"
    r = await api.register("a@shop.example.com", "password1234")
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["code"] == "password_too_common"
    r = await api.post("/api/auth/register", json={"email": "a@shop.example.com"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["password"]
    r = await api.post(
        "/api/auth/register",
        json={"email": "a@b.example.com", "password": PASSWORD, "role": "admin"},
    )
    assert r.status_code == 422  # no extra fields: nobody registers as admin


async def test_register_with_a_taken_email_is_409(user_api: Api, api: Api) -> None:
    r = await api.register(USER_EMAIL.upper(), PASSWORD)
    assert r.status_code == 409 and error_code(r) == "email_unavailable"


async def test_wrong_password_and_unknown_email_look_the_same(
    user_api: Api, api: Api, rt: Any
) -> None:
    wrong = await api.login(USER_EMAIL, "not-the-password-1")
    unknown = await api.login("nobody@shop.example.com", "not-the-password-1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "invalid_credentials"
    assert dict(wrong.headers).keys() == dict(unknown.headers).keys()
    from sqlalchemy import select

    from tillpoint.audit.models import AuditLog

    async with rt.db.transaction() as s:
        rows = (
            await s.scalars(select(AuditLog).where(AuditLog.event_type == "login_failed"))
        ).all()
    assert sorted(r.meta["reason"] for r in rows) == ["unknown_email", "wrong_password"]


async def test_login_is_case_insensitive_on_email(user_api: Api, api: Api) -> None:
    r = await api.login("  " + USER_EMAIL.upper(), USER_PASSWORD)
    assert r.status_code == 200, r.text


async def test_login_rotates_the_session_cookie(api: Api) -> None:
    guest_token = api.client.cookies.get("tp-session")
    await api.register("fixation@shop.example.com", PASSWORD)
    registered_token = api.client.cookies.get("tp-session")
    assert registered_token and registered_token != guest_token
    # The guest session the caller (or an attacker who planted it) held is gone.
    api.set_cookie("tp-session", guest_token)
    r = await api.get("/api/cart")
    assert r.status_code == 401 and error_code(r) == "session_required"


async def test_csrf_token_rotates_on_login_and_logout(user_api: Api, api: Api) -> None:
    guest_csrf = api.csrf
    await api.login(USER_EMAIL, USER_PASSWORD)
    assert api.csrf != guest_csrf
    r = await api.post("/api/auth/refresh", headers={"X-CSRF-Token": guest_csrf or ""})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    logged_in_csrf = api.csrf
    assert (await api.logout()).status_code == 200
    assert api.csrf != logged_in_csrf
    r = await api.post("/api/auth/logout", headers={"X-CSRF-Token": logged_in_csrf or ""})
    assert r.status_code == 403


async def test_auth_endpoints_require_csrf(api: Api) -> None:
    del api.client.headers["X-CSRF-Token"]
    for path in ("/api/auth/login", "/api/auth/register", "/api/auth/logout", "/api/auth/refresh"):
        r = await api.post(path, json={"email": USER_EMAIL, "password": USER_PASSWORD})
        assert r.status_code == 403 and error_code(r) == "csrf_failed", path


async def test_cookies_are_httponly_and_strict(api: Api) -> None:
    r = await api.register("cookies@shop.example.com", PASSWORD)
    cookies = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
    for name in ("tp-session", "tp-access", "tp-refresh"):
        assert "HttpOnly" in cookies[name] and "SameSite=strict" in cookies[name], name
    assert "Path=/api/auth" in cookies["tp-refresh"]
    assert "Max-Age=3600" in cookies["tp-access"]
    assert "HttpOnly" not in cookies["csrf-token"]


async def test_login_as_another_user_ends_the_first_session(user_api: Api, admin_api: Api) -> None:
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    old_session = user_api.client.cookies.get("tp-session")
    old_access = user_api.client.cookies.get("tp-access")
    assert (await user_api.login(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200
    assert (await user_api.get("/api/auth/me")).json()["role"] == "admin"
    user_api.set_cookie("tp-session", old_session)
    user_api.set_cookie("tp-access", old_access)
    r = await user_api.get("/api/auth/me")
    assert r.status_code == 401 and error_code(r) == "session_expired"


async def test_unknown_email_costs_the_same_argon2_work(
    user_api: Api, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tillpoint.auth import passwords

    verified: list[str] = []
    real = passwords._verify

    def counting(hasher: Any, stored: str, password: str) -> passwords.Verification:
        verified.append(stored.split("$")[3])  # the parameters used, e.g. m=1024,t=1,p=1
        return real(hasher, stored, password)

    monkeypatch.setattr(passwords, "_verify", counting)
    await api.login(USER_EMAIL, "not-the-password-1")
    await api.login("nobody@shop.example.com", "not-the-password-1")
    assert len(verified) == 2 and verified[0] == verified[1]
