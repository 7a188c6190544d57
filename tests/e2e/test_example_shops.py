"""The example shops end to end, as their READMEs run them: ``tillpoint serve`` in its own
process (SQLite, demo data, an API key from ``tillpoint api-key create``, a webhook
endpoint from ``tillpoint webhooks add``), the shop in its own process (Flask's server,
Django's runserver), and a shopper in Chromium who buys on the shop, pays on tillpoint's
page with the sandbox's test card, lands on the shop's success page; the shop then lists
the order it recorded from the verified webhook. "Back to shop" returns to the shop."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP
from tests.e2e.shopper import pay_with, to_delivery

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "tillpoint"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ShopKind:
    name: str
    command: list[str]  # {port} is replaced
    sku_slug: str  # the product tillpoint's catalog prices (by SKU)
    own_slug: str  # the product the shop prices itself (price_data)
    own_name: str
    own_price: int


SHOPS = [
    ShopKind(
        "flask",
        [sys.executable, "-m", "flask", "--app", "examples/flask_shop/app.py", "run",
         "--host", "127.0.0.1", "--port", "{port}"],
        "sencha", "tasting-notebook", "Tea Tasting Notebook", 900,
    ),
    ShopKind(
        "django",
        [sys.executable, "examples/django_shop/manage.py", "runserver", "--noreload",
         "127.0.0.1:{port}"],
        "cedar-candle", "linen-napkins", "Linen Napkins, set of 4", 2400,
    ),
]  # fmt: skip


@dataclass
class Running:
    """tillpoint and a shop, each in its own process, and their logs."""

    tillpoint_url: str
    shop_url: str
    shop: ShopKind
    logs: Path

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for p in sorted(self.logs.glob("*.log"))
        )


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, f"tillpoint {' '.join(args)}: {done.stderr}"
    return done.stdout


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # a busy CI machine
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url} exited: {log.read_text(errors='replace')}"
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module", params=SHOPS, ids=[s.name for s in SHOPS])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """tillpoint and one example shop, started once for this module's tests."""
    shop: ShopKind = request.param
    tmp_path = tmp_path_factory.mktemp(f"{shop.name}-shop")
    shop_port, tillpoint_port = _free_port(), _free_port()
    shop_url, tillpoint_url = f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{tillpoint_port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),  # this tree's tillpoint, in every process
        "TILLPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tillpoint.db'}",
        "TILLPOINT_SECRET_KEY_FILE": str(tmp_path / "secret"),
        "TILLPOINT_LOG_LEVEL": "WARNING",
        "TILLPOINT_ALLOWED_REDIRECT_HOSTS": f"127.0.0.1:{shop_port}",
        "TILLPOINT_SWEEP_INTERVAL_SECONDS": "1",  # webhook deliveries within a second
    }
    _cli(env, "demo", "--no-serve")
    api_key = _cli(env, "api-key", "create", "--name", f"{shop.name} shop").strip().splitlines()[-1]
    assert api_key.startswith("tp_sk_")
    hook = json.loads(
        _cli(env, "webhooks", "add", f"{shop_url}/webhooks/tillpoint",
             "--event", "checkout.session.completed")
    )  # fmt: skip
    processes = [
        _start([*CLI, "serve", "--port", str(tillpoint_port)], env, tmp_path / "tillpoint.log")
    ]
    shop_env = {
        **env,
        "TILLPOINT_URL": tillpoint_url,
        "TILLPOINT_API_KEY": api_key,
        "TILLPOINT_WEBHOOK_SECRET": hook["secret"],
        "SHOP_URL": shop_url,
        "SHOP_ORDERS_DB": str(tmp_path / "shop-orders.db"),
    }
    command = [part.replace("{port}", str(shop_port)) for part in shop.command]
    processes.append(_start(command, shop_env, tmp_path / f"{shop.name}.log"))
    try:
        _wait_until_up(f"{tillpoint_url}/healthz", processes[0], tmp_path / "tillpoint.log")
        _wait_until_up(f"{shop_url}/", processes[1], tmp_path / f"{shop.name}.log")
        yield Running(tillpoint_url, shop_url, shop, tmp_path)
    finally:
        for process in processes:
            _stop(process)


@pytest.fixture
def shopper(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _buy(page: Any, running: Running, slug: str) -> None:
    """On the shop's product page press Buy; wait for tillpoint's checkout."""
    page.goto(f"{running.shop_url}/products/{slug}")
    page.get_by_role("button", name="Buy").click()
    page.wait_for_url(re.compile(re.escape(f"{running.tillpoint_url}/checkout?")))
    page.wait_for_selector("html[data-ready='true']")


def _recorded_row(page: Any, running: Running, session_id: str) -> Any:
    """The shop's orders page, reloaded until the webhook's order is there (tillpoint
    delivers from its sweeper, once a second here)."""
    row = page.locator(f"tr[data-session-id='{session_id}']")
    deadline = time.monotonic() + 60
    while True:
        page.goto(f"{running.shop_url}/orders")
        if row.count() == 1 or time.monotonic() > deadline:
            return row
        page.wait_for_timeout(250)


def test_a_purchase_through_the_example_shop(running: Running, shopper: Any) -> None:
    page = shopper
    try:
        _buy(page, running, running.shop.own_slug)
        expect(page.locator("#summary-lines")).to_contain_text(f"1 \u00d7 {running.shop.own_name}")
        to_delivery(page, email=f"{running.shop.name}@example.com")
        pay_with(page, "4242")
        page.wait_for_url(re.compile(re.escape(f"{running.shop_url}/success?session_id=cs_")))
        session_id = page.url.rsplit("=", 1)[1]
        expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
        number = page.locator("[data-order-number]").get_attribute("data-order-number")
        total = int(page.locator("[data-amount-total]").get_attribute("data-amount-total") or 0)
        assert number and total >= running.shop.own_price  # plus shipping and tax

        row = _recorded_row(page, running, session_id)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(number)
        expect(row).to_contain_text(f"{running.shop.name}@example.com")
        expect(row.locator("[data-amount-total]")).to_have_attribute(
            "data-amount-total", str(total)
        )
    except Exception:
        print(running.log_tail())
        raise


def test_back_to_shop_returns_to_the_product_page(running: Running, shopper: Any) -> None:
    page = shopper
    try:
        _buy(page, running, running.shop.sku_slug)
        page.get_by_role("link", name="Back to shop").click()
        page.wait_for_url(f"{running.shop_url}/products/{running.shop.sku_slug}")
        expect(page.get_by_role("button", name="Buy")).to_be_visible()
    except Exception:
        print(running.log_tail())
        raise
