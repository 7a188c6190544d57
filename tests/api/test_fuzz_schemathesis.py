"""Schemathesis fuzzes every operation of our own OpenAPI schema, in process over ASGI,
as a caller with a live session and a valid CSRF token (and, for /api/admin/..., the
admin role). It fails on any 5xx, any response that does not match its declared schema,
or a stack trace in a body.

Budget: ``FUZZ_MAX_EXAMPLES`` examples per operation (default 25) keeps the run well
under three minutes on CI's two cores; raise it locally for a deeper run:
``FUZZ_MAX_EXAMPLES=200 .venv/bin/pytest tests/api/test_fuzz_schemathesis.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import TEST_RATE_LIMITS
from tillpoint.catalog.demo import seed_demo_catalog
from tillpoint.config import load_settings
from tillpoint.migrate import upgrade
from tillpoint.runtime import Runtime
from tillpoint.sessions.service import SessionContext
from tillpoint.web.app import create_app
from tillpoint.web.deps import require_admin

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
STACK_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc")


@schemathesis.check
def no_stack_trace(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A body never carries a Python traceback or driver error text."""
    text = response.text or ""
    for marker in STACK_TRACE_MARKERS:
        if marker in text:
            raise AssertionError(f"stack trace in the response body: {marker!r}")


def _fake_admin(ctx: SessionContext) -> Any:
    async def admin() -> SessionContext:
        return SessionContext(
            session_id=ctx.session_id,
            cart_id=ctx.cart_id,
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            user_id="usr_fuzzadmin0000000000000",
            role="admin",
        )

    return admin


# The schema is read when this module is imported (schemathesis parametrizes at collection
# time), so the app is built then; its database is created by the fixture below, before the
# first fuzzed request reaches it.
_DB_DIR = Path(tempfile.mkdtemp(prefix="tillpoint-fuzz-"))
_DB_URL = f"sqlite+aiosqlite:///{_DB_DIR / 'fuzz.db'}"
_SETTINGS = load_settings(
    mode="test",
    database_url=_DB_URL,
    secret_key="fuzz-secret-key-that-is-long-enough-0123456789",
    background_tasks=False,
    log_level="CRITICAL",
    # Configured, so the signed webhook's refusals (400/401) are fuzzed, not its 503.
    inventory_webhook_secret="fuzz-inventory-webhook-secret-0123",
    **TEST_RATE_LIMITS,
)
APP = create_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[Any]:
    """A migrated, seeded database, and a requests-style client into the app with a guest
    session and its CSRF token (and the admin role for /api/admin/...)."""
    upgrade(_DB_URL)

    async def seed() -> None:
        rt = Runtime.from_settings(_SETTINGS)
        try:
            await seed_demo_catalog(rt)
        finally:
            await rt.close()

    asyncio.run(seed())
    with asgi.get_client(APP) as client:
        answer = client.get("/api/session")
        assert answer.status_code == 200, answer.text
        session = answer.json()
        client.headers["X-CSRF-Token"] = session["csrf_token"]
        ctx = SessionContext(
            session_id="fuzz", cart_id=session["cart_id"], expires_at=datetime.now(UTC)
        )
        APP.dependency_overrides[require_admin] = _fake_admin(ctx)
        yield client
    APP.dependency_overrides.clear()
    asgi.shutdown_lifespans()
    shutil.rmtree(_DB_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_every_generated_request_cleanly(
    case: schemathesis.Case, fuzz_client: Any
) -> None:
    case.call_and_validate(
        session=fuzz_client,
        checks=[not_a_server_error, response_schema_conformance, no_stack_trace],
    )
