"""Run localstripe (a stateful fake Stripe from PyPI) on a free loopback port.

Its own CLI binds every interface and reloads a pickle from /tmp; we start its aiohttp
app on 127.0.0.1 in a subprocess instead, with disk persistence switched off so
parallel runs on one machine never share state.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

_RUNNER = """
import sys
from aiohttp import web
from localstripe import resources, server
resources.Store.dump_to_disk = lambda self: None
resources.store.clear()
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStripe:
    url: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        """Forget every object (``DELETE /_config/data``)."""
        httpx.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    def register_webhook(self, name: str, url: str, secret: str) -> None:
        """Deliver every event, signed with ``secret``, to ``url``."""
        r = httpx.post(
            f"{self.url}/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=5
        )
        r.raise_for_status()

    def authenticate(self, intent_id: str, client_secret: str, *, success: bool) -> None:
        """Complete or fail 3-D Secure, as the customer would in the bank's dialog."""
        r = httpx.post(
            f"{self.url}/v1/payment_intents/{intent_id}/_authenticate",
            params={"success": "true" if success else "false"},
            json={"key": "pk_test_12345", "client_secret": client_secret},
            timeout=5,
        )
        r.raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_localstripe() -> LocalStripe:
    """Start localstripe and wait until it answers; raises if it does not within 20 s."""
    port = free_port()
    process = subprocess.Popen(  # our own interpreter running a fixed script
        [sys.executable, "-c", _RUNNER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"localstripe exited: {err[-2000:]}")
        try:
            httpx.get(
                f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_1"}, timeout=1
            )
            return LocalStripe(url=url, process=process)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("localstripe did not start within 20 s")
