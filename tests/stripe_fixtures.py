"""Fixtures for the payment tests: localstripe for the session, a scripted Stripe-shaped
HTTP server for what localstripe cannot do (5xx, recorded Radar outcomes), and
gateway settings pointing the real ``stripe`` SDK at them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.localstripe_server import LocalStripe, free_port, start_localstripe

STRIPE_KEY = "sk_test_primary_12345"
STRIPE_PK = "pk_test_primary_12345"
FALLBACK_KEY = "sk_test_fallback_67890"
WEBHOOK_SECRET = "whsec_test_primary_secret"
PREVIOUS_SECRET = "whsec_test_previous_secret"


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[LocalStripe]:
    """localstripe on a free loopback port for the whole run."""
    from tests.conftest import _unavailable

    try:
        server = start_localstripe()
    except (RuntimeError, OSError) as exc:
        _unavailable("localstripe", str(exc))
    yield server
    server.stop()


@pytest.fixture
def localstripe(localstripe_server: LocalStripe) -> LocalStripe:
    """localstripe with its state forgotten before the test."""
    localstripe_server.reset()
    return localstripe_server


def stripe_settings(api_base: str, **extra: Any) -> dict[str, Any]:
    """Settings overrides for the Stripe gateway against ``api_base``."""
    values: dict[str, Any] = {
        "payment_gateway": "stripe",
        "stripe_secret_key": STRIPE_KEY,
        "stripe_publishable_key": STRIPE_PK,
        "stripe_api_base": api_base,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_webhook_secret_previous": PREVIOUS_SECRET,
        # localstripe refuses automatic_payment_methods (400): off against it.
        "stripe_automatic_payment_methods": False,
    }
    values.update(extra)
    return values


@dataclass
class ScriptedStripe:
    """A loopback HTTP server answering every request with ``status`` and ``body``."""

    url: str
    status: int = 500
    body: dict[str, Any] = field(
        default_factory=lambda: {"error": {"type": "api_error", "message": "Internal error"}}
    )
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def scripted_stripe() -> Iterator[ScriptedStripe]:
    port = free_port()
    scripted = ScriptedStripe(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            scripted.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length).decode() if length else "",
                }
            )
            payload = json.dumps(scripted.body).encode()
            self.send_response(scripted.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield scripted
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
