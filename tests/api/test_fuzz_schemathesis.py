"""Schemathesis fuzzes our OpenAPI schema the way a real client meets it: the app served
by ``tillpoint serve`` on PostgreSQL, every request carrying a logged-in admin's cookies
and CSRF token (so /api/admin/... reach their handlers), all checks, every phase
(examples, coverage, fuzzing, and the stateful phase that follows links between
operations). The operations that end or replace a session (login, register, refresh,
logout) run in a second pass as a guest, without the stateful phase (no links join
them): a fuzzed logout would end the admin's session.
Both passes must end with zero failures: no server error, no schema mismatch.

``positive_data_acceptance`` accepts 412 and 422 for schema-valid data (a stale version,
a domain rule such as an unknown coupon code); ``valid_data_is_not_refused_for_its_shape``
(``tests/fuzz_hooks.py``) then fails any schema-valid request refused for its shape.

Budget: ``FUZZ_MAX_EXAMPLES`` examples per operation and phase (default 4, about a minute
and a half on two cores); a deeper run:
``FUZZ_MAX_EXAMPLES=50 FUZZ_SEED=7 .venv/bin/pytest -s tests/api/test_fuzz_schemathesis.py``
(``-s`` prints the commands and schemathesis's summaries).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_ADMIN_URL, TEST_RATE_LIMITS, admin_sql
from tillpoint.auth.service import create_user
from tillpoint.bootstrap import build_runtime
from tillpoint.catalog.demo import seed_demo_catalog
from tillpoint.config import load_settings
from tillpoint.inventory.demo import seed_demo_stock
from tillpoint.migrate import upgrade

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "4"))
SEED = os.environ.get("FUZZ_SEED", "1")
HOOKS = Path(__file__).resolve().parent.parent / "fuzz_hooks.py"
SESSION_CHANGING = r"^/api/auth/(login|register|refresh|logout|logout-all)$"
ALL_PHASES = "examples,coverage,fuzzing,stateful"
ADMIN = ("fuzz-admin@example.com", "fuzz-admin-password-0123")
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "402", "403", "404", "409", "412", "422", "429", "5xx"]
"""
ENV = {
    "TILLPOINT_SECRET_KEY": "fuzz-secret-key-that-is-long-enough-0123456789",
    "TILLPOINT_LOG_LEVEL": "WARNING",
    "TILLPOINT_BACKGROUND_TASKS": "false",
    "TILLPOINT_INVENTORY_WEBHOOK_SECRET": "fuzz-inventory-webhook-secret-0123",
    # The providers' webhooks configured, so a fuzzed delivery meets their checks (401).
    "TILLPOINT_INVENTORY_SHOPIFY_WEBHOOK_SECRET": "fuzz-shopify-webhook-secret-0123",
    "TILLPOINT_INVENTORY_WOOCOMMERCE_WEBHOOK_SECRET": "fuzz-woocommerce-secret-0123",
    "TILLPOINT_INVENTORY_SHIPSTATION_WEBHOOK_TOKEN": "fuzz-shipstation-token-0123456789",
    "TILLPOINT_SANDBOX_WEBHOOK_SECRET": "whsec_fuzz_sandbox_0000000000",
    "TILLPOINT_ARGON2_TIME_COST": "1",
    "TILLPOINT_ARGON2_MEMORY_COST_KIB": "1024",
    "TILLPOINT_ARGON2_PARALLELISM": "1",
    **{f"TILLPOINT_{k.upper()}": v for k, v in TEST_RATE_LIMITS.items()},
}


@dataclass(frozen=True)
class Served:
    base: str
    admin_headers: list[str]
    guest_headers: list[str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(url: str) -> None:
    rt = build_runtime(load_settings(database_url=url, **_settings_env()))
    try:
        await seed_demo_catalog(rt)
        await seed_demo_stock(rt)
        await create_user(rt, email=ADMIN[0], password=ADMIN[1], role="admin")
    finally:
        await rt.close()


def _settings_env() -> dict[str, str]:
    return {k.removeprefix("TILLPOINT_").lower(): v for k, v in ENV.items()}


def _headers(client: httpx.Client, csrf: str) -> list[str]:
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return ["-H", f"Cookie: {cookies}", "-H", f"X-CSRF-Token: {csrf}"]


def _callers(base: str) -> tuple[list[str], list[str]]:
    """(admin, guest) headers: a logged-in admin's cookies and CSRF token, a guest's."""
    with httpx.Client(base_url=base) as admin, httpx.Client(base_url=base) as guest:
        token = admin.get("/api/session").json()["csrf_token"]
        r = admin.post(
            "/api/auth/login",
            json={"email": ADMIN[0], "password": ADMIN[1]},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 200, r.text
        admin_headers = _headers(admin, r.json()["csrf_token"])
        guest_headers = _headers(guest, guest.get("/api/session").json()["csrf_token"])
    return admin_headers, guest_headers


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The app on a database of its own, served by ``tillpoint serve`` on a loopback port."""
    name = f"tillpoint_fuzz_{os.getpid()}"
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    url = f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    upgrade(url)
    asyncio.run(_seed(url))
    port = _free_port()
    env = {**os.environ, **ENV, "TILLPOINT_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "tillpoint", "serve", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        admin_headers, guest_headers = _callers(base)
        yield Served(base, admin_headers, guest_headers)
    finally:
        server.terminate()
        server.wait(timeout=10)
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _schemathesis(
    served: Served, tmp: Path, headers: list[str], phases: str, *filters: str
) -> None:
    """Run the schemathesis CLI, print the command and its summary; fail unless it ends
    with zero failures (exit status 0)."""
    config = tmp / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config), "run",
        f"{served.base}/openapi.json", "--checks", "all",
        "--phases", phases, "--max-examples", str(MAX_EXAMPLES),
        "--seed", SEED, "--workers", "1", *headers, *filters,
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    secret = ("Cookie", "X-CSRF")
    shown = " ".join(f"'{a.split(':')[0]}: …'" if a.startswith(secret) else a for a in command)
    summary = done.stdout[done.stdout.find("SUMMARY") - 40 :] if "SUMMARY" in done.stdout else ""
    print(f"\n$ {shown}\n{summary}")
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-4000:]


def test_the_api_agrees_with_its_schema_as_an_admin(served: Served, tmp_path: Path) -> None:
    _schemathesis(
        served, tmp_path, served.admin_headers, ALL_PHASES, "--exclude-path-regex", SESSION_CHANGING
    )


def test_the_session_operations_agree_with_the_schema_as_a_guest(
    served: Served, tmp_path: Path
) -> None:
    # No links join these five operations: the stateful phase has nothing to follow here.
    _schemathesis(
        served,
        tmp_path,
        served.guest_headers,
        "examples,coverage,fuzzing",
        "--include-path-regex",
        SESSION_CHANGING,
    )
