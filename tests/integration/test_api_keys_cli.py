"""``tillpoint api-key create | list | revoke`` against the test database (both backends):
the secret is printed once (last line), listed keys show no secret, a revoked key is
refused from the next request on."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from tillpoint.api_keys.public import KeyUse, Scope, authenticate
from tillpoint.cli import app
from tillpoint.errors import Unauthorized
from tillpoint.runtime import Runtime

USE = KeyUse("GET", "/api/v1/checkout-sessions/x")


@pytest.fixture
def cli_env(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILLPOINT_DATABASE_URL", rt.settings.database_url)
    monkeypatch.setenv("TILLPOINT_SECRET_KEY", "cli-test-secret-key-long-enough-0123456789")
    monkeypatch.delenv("TILLPOINT_REDIS_URL", raising=False)


async def cli(*args: str) -> tuple[int, str]:
    # The CLI runs its own event loop: off this test's loop, in a thread.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.output


async def test_create_list_revoke(cli_env: None, rt: Runtime) -> None:
    code, out = await cli("api-key", "create", "--name", "web shop", "--scope",
                          "checkout_sessions:read")  # fmt: skip
    assert code == 0, out
    *shown, secret = out.strip().splitlines()
    made = json.loads("\n".join(shown))
    assert secret.startswith("tp_sk_") and made["scopes"] == ["checkout_sessions:read"]
    assert secret not in "\n".join(shown) and made["display"].endswith(secret[-4:])
    key = await authenticate(rt, f"Bearer {secret}", Scope.checkout_sessions_read, USE)
    assert key.id == made["id"]
    code, out = await cli("api-key", "list")
    (listed,) = json.loads(out)
    assert listed["id"] == made["id"] and listed["last_used_at"] is not None
    assert "secret" not in listed and secret not in out
    code, out = await cli("api-key", "revoke", made["id"])
    assert code == 0 and json.loads(out)["revoked_at"] is not None
    with pytest.raises(Unauthorized) as refused:
        await authenticate(rt, f"Bearer {secret}", Scope.checkout_sessions_read, USE)
    assert refused.value.code == "invalid_api_key"


async def test_refusals_exit_non_zero(cli_env: None, rt: Runtime) -> None:
    code, out = await cli("api-key", "create", "--name", "x", "--scope", "orders:write")
    assert code == 1 and "unknown_scope" in out
    code, out = await cli("api-key", "create", "--name", "   ")
    assert code == 1 and "invalid_name" in out
    code, out = await cli("api-key", "revoke", "key_" + "a" * 22)
    assert code == 1 and "api_key_not_found" in out
    assert json.loads((await cli("api-key", "list"))[1]) == []
