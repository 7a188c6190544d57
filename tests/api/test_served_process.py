"""The app as `tillpoint serve` runs it: a real process on a loopback port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_then_serve_completes_a_cart_round_trip(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TILLPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "TILLPOINT_SECRET_KEY_FILE": str(tmp_path / "secret"),
        "TILLPOINT_LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-m", "tillpoint"]
    seeded = subprocess.run([*cli, "demo", "--no-serve"], env=env, capture_output=True, text=True)
    assert seeded.returncode == 0, seeded.stderr
    assert "12 products added" in seeded.stdout
    # The demo's owner: made once, its random password printed that one time.
    admin = re.search(r"as (owner@example\.com) / (\S+)", seeded.stdout)
    assert admin is not None, seeded.stdout
    again = subprocess.run([*cli, "demo", "--no-serve"], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "owner@example.com exists" in again.stdout
    port = _free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):  # up to 30 s on a loaded machine
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base) as client:
            token = client.get("/api/session").json()["csrf_token"]
            items = client.get("/api/products").json()["items"]
            product = next(p for p in items if not p["variants"])
            r = client.post(
                "/api/cart/items",
                json={"product_id": product["id"], "quantity": 2},
                headers={"X-CSRF-Token": token},
            )
            assert r.status_code == 200, r.text
            assert r.json()["totals"]["subtotal"] == 2 * product["price"]
            assert "server" not in r.headers  # the server software is not announced
            login = {"email": admin[1], "password": admin[2]}
            r = client.post("/api/auth/login", json=login, headers={"X-CSRF-Token": token})
            assert r.status_code == 200, r.text
            assert client.get("/api/admin/orders").status_code == 200
            assert client.get("/admin").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
