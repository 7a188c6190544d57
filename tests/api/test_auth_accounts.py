"""Accounts over HTTP: register, login, logout, me, and the admin/customer fixtures."""

from __future__ import annotations

from typing import Any

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
