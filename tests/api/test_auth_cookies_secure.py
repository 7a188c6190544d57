"""In secure cookie mode the auth cookies get ``__Host-``/``__Secure-`` names and Secure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support import Api


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cookie_security": "secure"}


@pytest.fixture
async def https_api(app: Any) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        caller = Api(client)
        await caller.start()
        yield caller


async def test_secure_mode_cookies(https_api: Api) -> None:
    r = await https_api.register("secure@shop.example.com", "plum-orchard-lantern-7")
    assert r.status_code == 201, r.text
    cookies = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
    for name in ("__Host-tp-session", "__Host-tp-access", "__Secure-tp-refresh"):
        assert "Secure" in cookies[name] and "HttpOnly" in cookies[name], name
        assert "SameSite=strict" in cookies[name], name
    assert "Path=/;" in cookies["__Host-tp-access"] + ";"
    assert "Path=/api/auth" in cookies["__Secure-tp-refresh"]
    assert (await https_api.get("/api/auth/me")).status_code == 200
    assert (await https_api.post("/api/auth/refresh")).status_code == 200
