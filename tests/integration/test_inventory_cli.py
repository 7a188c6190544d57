"""`tillpoint inventory sync` as an operator runs it: a real process pulling from a provider
served on loopback (and failing cleanly when it is down or not configured)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.inventory_support import level, stocked
from tillpoint.config import Settings
from tillpoint.runtime import Runtime

LEVELS: dict[str, int] = {}


class ProviderHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer key-cli" or not self.path.startswith(
            "/v1/inventory_levels"
        ):
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps(
            {
                "inventory_levels": [{"sku": k, "available": v} for k, v in LEVELS.items()],
                "next_cursor": None,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def provider_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ProviderHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def run_cli(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "TILLPOINT_DATABASE_URL": settings.database_url,
        "TILLPOINT_SECRET_KEY": settings.secret_key or "",
        "TILLPOINT_LOG_LEVEL": "WARNING",
        **env,
    }
    cmd = [sys.executable, "-m", "tillpoint", "inventory", "sync"]
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=60)


async def test_sync_command_pulls_levels_from_the_provider(
    rt: Runtime, settings: Settings, provider_url: str
) -> None:
    p = await stocked(rt, 2)
    LEVELS.clear()
    LEVELS.update({p.sku: 17, "UNKNOWN-SKU": 4})
    done = await asyncio.to_thread(
        run_cli,
        settings,
        TILLPOINT_INVENTORY_PROVIDER="http_json",
        TILLPOINT_INVENTORY_PROVIDER_URL=provider_url,
        TILLPOINT_INVENTORY_PROVIDER_API_KEY="key-cli",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["updated"], summary["unknown_skus"], summary["error"]) == (
        1,
        ["UNKNOWN-SKU"],
        None,
    )
    assert (await level(rt, p.id)).on_hand == 17


async def test_sync_command_fails_cleanly_when_the_provider_is_down(
    rt: Runtime, settings: Settings
) -> None:
    p = await stocked(rt, 2)
    done = await asyncio.to_thread(
        run_cli,
        settings,
        TILLPOINT_INVENTORY_PROVIDER="http_json",
        TILLPOINT_INVENTORY_PROVIDER_URL="http://127.0.0.1:9/v1",
        TILLPOINT_INVENTORY_PROVIDER_API_KEY="key-cli",
        TILLPOINT_INVENTORY_PROVIDER_TIMEOUT_SECONDS="2",
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]
    assert (await level(rt, p.id)).on_hand == 2


async def test_sync_command_needs_a_provider(settings: Settings) -> None:
    done = await asyncio.to_thread(run_cli, settings)
    assert done.returncode == 2 and "internal" in done.stderr
