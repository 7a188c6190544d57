"""Fault injection around money: the app process SIGKILLed between a successful payment
and its order; Stripe (localstripe) answering 500 or timing out.

The served process is the real ``tillpoint serve``; the crash is a real SIGKILL sent
by the process to itself at the chosen point (a wrapper patches nothing but the
moment of death). Stripe state lives in localstripe, outside the process, as it
would at Stripe.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests import factories
from tests.api.test_checkout import NY, to_state
from tests.localstripe_server import LocalStripe
from tests.redis_process import free_port
from tests.stripe_fixtures import FALLBACK_KEY, STRIPE_KEY, stripe_settings
from tests.support import Api, MovableClock, error_code
from tillpoint.checkout import payment_recovery
from tillpoint.checkout.models import Checkout
from tillpoint.inventory.levels import adjust_stock
from tillpoint.orders.models import Order, OrderPayment
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

pytestmark = pytest.mark.stripe

# Runs `tillpoint serve`, dying by SIGKILL when the server is about to apply CRASH_AT.
_CRASHING_SERVER = """
import os, signal, sys
import tillpoint.checkout.service as checkout_service
crash_at = os.environ.get("CRASH_AT")
real = checkout_service.apply_server_event

async def apply_or_die(rt, checkout_id, event, *args, **kwargs):
    if crash_at and getattr(event, "value", event) == crash_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return await real(rt, checkout_id, event, *args, **kwargs)

checkout_service.apply_server_event = apply_or_die
from tillpoint.cli import main
sys.argv = ["tillpoint", "serve", "--port", sys.argv[1]]
main()
"""


@pytest.fixture
def settings_overrides(localstripe: LocalStripe) -> dict[str, Any]:
    return stripe_settings(localstripe.url)


class Served:
    """One ``tillpoint serve`` process on the test's database, optionally set to crash."""

    def __init__(self, settings: Any, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **_env_of(settings), "TILLPOINT_LOG_LEVEL": "CRITICAL"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None = None) -> None:
        env = {**self.env, "CRASH_AT": crash_at or ""}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CRASHING_SERVER, str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the served app did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _env_of(settings: Any) -> dict[str, str]:
    """The settings a served process needs, as ``TILLPOINT_*`` variables."""
    names = [
        "mode", "database_url", "secret_key", "payment_gateway", "stripe_secret_key",
        "stripe_publishable_key", "stripe_api_base", "stripe_webhook_secret",
        "stripe_automatic_payment_methods",
    ]  # fmt: skip
    env = {f"TILLPOINT_{n.upper()}": str(getattr(settings, n)) for n in names}
    env["TILLPOINT_BACKGROUND_TASKS"] = "false"
    env.pop("TILLPOINT_REDIS_URL", None)
    return {k: v.lower() if v in ("True", "False") else v for k, v in env.items()}


@pytest.fixture
def served(settings: Any, tmp_path: Path) -> Iterator[Served]:
    server = Served(settings, tmp_path)
    yield server
    server.stop()


def _guest_to_payment(client: httpx.Client, product_id: str) -> str:
    """Session, one item, the guest checkout to CONFIRM_ORDER; returns the checkout id."""
    token = client.get("/api/session").json()["csrf_token"]
    client.headers["X-CSRF-Token"] = token
    r = client.post("/api/cart/items", json={"product_id": product_id, "quantity": 1})
    assert r.status_code == 200, r.text
    cid = client.post("/api/checkout").json()["id"]
    events: list[dict[str, Any]] = [
        {"type": "SELECT_GUEST"},
        {"type": "SUBMIT_GUEST_INFO", "email": "kill@example.com", "first_name": "K",
         "last_name": "Ill"},
        {"type": "SUBMIT_SHIPPING", "address": NY},
        {"type": "USE_SHIPPING_ADDRESS"},
    ]  # fmt: skip
    for event in events:
        assert client.post(f"/api/checkout/{cid}/events", json=event).status_code == 200
    option = client.get(f"/api/checkout/{cid}/shipping-options").json()["items"][0]["id"]
    for event in (
        {"type": "SELECT_SHIPPING", "shipping_method_id": option},
        {"type": "SELECT_PAYMENT",
         "payment_method": {"type": "card", "payment_method_id": "pm_card_visa"}},
        {"type": "CONFIRM_ORDER"},
    ):  # fmt: skip
        r = client.post(f"/api/checkout/{cid}/events", json=event)
        assert r.status_code == 200, r.text
    return str(cid)


async def _orders_of(rt: Runtime, cid: str) -> list[Order]:
    async with rt.db.transaction() as s:
        return list(await s.scalars(select(Order).where(Order.checkout_id == cid)))


async def _intent_id(rt: Runtime, cid: str) -> str:
    async with rt.db.transaction() as s:
        row = await s.get(Checkout, cid)
        assert row is not None
        return str(row.context["payment"]["intent_id"])


def _stripe_intent(localstripe: LocalStripe, intent_id: str) -> dict[str, Any]:
    r = httpx.get(
        f"{localstripe.url}/v1/payment_intents/{intent_id}",
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
    )
    r.raise_for_status()
    return dict(r.json())


# `tillpoint sweep` as an operator runs it, in a process of its own (no app in it), with the
# recovery grace set to zero so the test need not wait 30 s.
_CLI_SWEEP = """
import sys
from datetime import timedelta
import tillpoint.checkout.payment_recovery as recovery
recovery.RECOVERY_GRACE = timedelta(0)
from tillpoint.cli import main
sys.argv = ["tillpoint", "sweep"]
main()
"""


def _refunds_of(localstripe: LocalStripe, intent_id: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{localstripe.url}/v1/refunds",
        params={"payment_intent": intent_id},
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
    )
    r.raise_for_status()
    return [x for x in r.json()["data"] if x.get("payment_intent") == intent_id]


@pytest.mark.parametrize("crash_at", ["PAYMENT_SUCCESS", "PROCEED_TO_CONFIRMATION"])
async def test_sigkill_between_payment_and_order_then_exactly_one_order_after_restart(
    served: Served, rt: Runtime, clock: MovableClock, localstripe: LocalStripe, crash_at: str
) -> None:
    product = await factories.product(rt, price=3100)
    await adjust_stock(rt, product.id, on_hand=5, reason="fault test")
    served.start(crash_at=crash_at)
    with httpx.Client(base_url=served.url, timeout=30) as browser:
        cid = await asyncio.to_thread(_guest_to_payment, browser, product.id)
        with pytest.raises(httpx.TransportError):  # the process dies under the request
            await asyncio.to_thread(browser.post, "/api/payment/confirm", json={"checkout_id": cid})
        assert served.proc is not None and served.proc.wait(timeout=10) == -9
        intent_id = await _intent_id(rt, cid)
        assert _stripe_intent(localstripe, intent_id)["status"] == "succeeded"  # money taken
        assert await _orders_of(rt, cid) == []  # ... and no order yet

        # Restart; the browser retries its confirmation while two sweepers (two instances,
        # past the recovery grace) finalize stuck payments: one order, whoever wins.
        served.start()
        clock.advance(minutes=5)
        create_app(runtime=rt)  # this process is now a second app instance (its effects)
        retry, _, _ = await asyncio.gather(
            asyncio.to_thread(browser.post, "/api/payment/confirm", json={"checkout_id": cid}),
            payment_recovery.finalize_stuck_payments(rt),
            payment_recovery.finalize_stuck_payments(rt),
        )
    assert retry.status_code == 200, retry.text
    assert retry.json()["state"] == "order_confirmation"
    orders = await _orders_of(rt, cid)
    assert len(orders) == 1 and orders[0].payment_intent_id == intent_id
    assert retry.json()["order_id"] == orders[0].id
    async with rt.db.transaction() as s:
        payments = await s.scalar(
            select(func.count())
            .select_from(OrderPayment)
            .where(OrderPayment.payment_intent_id == intent_id)
        )
    assert payments == 1
    assert _stripe_intent(localstripe, intent_id)["amount"] == orders[0].total
    assert _refunds_of(localstripe, intent_id) == []  # nothing paid back: the sale stands
    assert await payment_recovery.finalize_stuck_payments(rt) == 0  # nothing left to recover


async def test_sigkill_then_recovery_by_tillpoint_sweep_in_its_own_process(
    served: Served, rt: Runtime, localstripe: LocalStripe
) -> None:
    """The operator's ``tillpoint sweep`` finishes a paid checkout the crash left behind."""
    product = await factories.product(rt, price=1900)
    await adjust_stock(rt, product.id, on_hand=5, reason="fault test")
    served.start(crash_at="PROCEED_TO_CONFIRMATION")
    with httpx.Client(base_url=served.url, timeout=30) as browser:
        cid = await asyncio.to_thread(_guest_to_payment, browser, product.id)
        with pytest.raises(httpx.TransportError):
            await asyncio.to_thread(browser.post, "/api/payment/confirm", json={"checkout_id": cid})
    assert served.proc is not None and served.proc.wait(timeout=10) == -9
    intent_id = await _intent_id(rt, cid)
    swept = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _CLI_SWEEP],
        env=served.env,
        capture_output=True,
        text=True,
    )
    assert swept.returncode == 0, swept.stderr
    orders = await _orders_of(rt, cid)
    assert len(orders) == 1 and orders[0].payment_intent_id == intent_id
    assert _refunds_of(localstripe, intent_id) == []


# --- Stripe answering 500 or timing out ------------------------------------------------------


class FaultyStripe:
    """A proxy in front of localstripe that breaks chosen calls.

    ``rules`` maps (method, path fragment) to ``fail_before`` (answer 500, localstripe never
    sees the call), ``fail_after`` (localstripe does it, the answer is lost as a 500) or
    ``hang_after`` (localstripe does it, the answer comes after the client gave up).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: dict[tuple[str, str], str] = {}
        self.only_key: str | None = None  # break only calls made with this secret key
        self.broken: list[str] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = next(
                    (a for (m, frag), a in proxy.rules.items()
                     if m == self.command and frag in self.path),
                    None,
                )  # fmt: skip
                if proxy.only_key and proxy.only_key not in self.headers.get("authorization", ""):
                    rule = None
                if rule == "fail_before":
                    proxy.broken.append(f"{rule} {self.path}")
                    return self._send(500, b'{"error": {"type": "api_error"}}')
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in {"host", "content-length"}
                }
                r = httpx.request(
                    self.command, proxy.upstream + self.path, content=body, headers=headers
                )
                if rule == "fail_after":
                    proxy.broken.append(f"{rule} {self.path}")
                    return self._send(500, b'{"error": {"type": "api_error"}}')
                if rule == "hang_after":
                    proxy.broken.append(f"{rule} {self.path}")
                    time.sleep(3)
                self._send(r.status_code, r.content)

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client hung up (a timeout)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _succeeded_intents(localstripe: LocalStripe, checkout_id: str) -> list[dict[str, Any]]:
    """Every PaymentIntent of ``checkout_id`` that took money, on either account."""
    r = httpx.get(
        f"{localstripe.url}/v1/payment_intents",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
    )
    r.raise_for_status()
    return [
        pi
        for pi in r.json()["data"]
        if pi.get("metadata", {}).get("checkout_id") == checkout_id and pi["status"] == "succeeded"
    ]


class TestStripeFaults:
    @pytest.fixture
    def faulty(self, localstripe: LocalStripe) -> Iterator[FaultyStripe]:
        proxy = FaultyStripe(localstripe.url)
        yield proxy
        proxy.close()

    @pytest.fixture
    def settings_overrides(self, faulty: FaultyStripe, request: pytest.FixtureRequest) -> Any:
        fallback = getattr(request, "param", False)
        extra: dict[str, Any] = {"stripe_max_network_retries": 1, "stripe_timeout_seconds": 1.5}
        if fallback:
            extra["stripe_fallback_secret_key"] = FALLBACK_KEY
            extra["stripe_fallback_publishable_key"] = "pk_test_fallback_67890"
        return stripe_settings(faulty.url, **extra)

    async def _to_confirm(self, api: Api, rt: Runtime) -> str:
        product = await factories.product(rt, price=2600)
        await adjust_stock(rt, product.id, on_hand=3, reason="fault test")
        r = await api.post("/api/cart/items", json={"product_id": product.id})
        assert r.status_code == 200, r.text
        cid = str((await api.post("/api/checkout")).json()["id"])
        await to_state(api, cid, "order_review")
        return cid

    @pytest.mark.parametrize("settings_overrides", [True], indirect=True)
    async def test_primary_down_at_intent_creation_pays_on_the_fallback_account_once(
        self, api: Api, rt: Runtime, faulty: FaultyStripe, localstripe: LocalStripe
    ) -> None:
        cid = await self._to_confirm(api, rt)
        faulty.rules[("POST", "/v1/payment_intents")] = "fail_before"
        faulty.only_key = STRIPE_KEY  # the primary account is down, the fallback is not
        r = await api.post(f"/api/checkout/{cid}/events", json={"type": "CONFIRM_ORDER"})
        assert r.status_code == 200, r.text
        assert r.json()["context"]["payment"]["account"] == "fallback"
        assert faulty.broken
        paid = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
        assert paid["state"] == "order_confirmation" and paid["order_id"]
        assert len(_succeeded_intents(localstripe, cid)) == 1

    async def test_stripe_down_when_confirming_the_order_is_a_clear_503_and_no_charge(
        self, api: Api, rt: Runtime, faulty: FaultyStripe, localstripe: LocalStripe
    ) -> None:
        cid = await self._to_confirm(api, rt)
        faulty.rules[("POST", "/v1/payment_intents")] = "fail_before"
        r = await api.post(f"/api/checkout/{cid}/events", json={"type": "CONFIRM_ORDER"})
        assert r.status_code == 503 and error_code(r) == "payment_gateway_unavailable", r.text
        assert faulty.broken  # the fault really happened
        assert _succeeded_intents(localstripe, cid) == []
        faulty.rules.clear()  # Stripe is back: the same checkout pays, once
        r = await api.post(f"/api/checkout/{cid}/events", json={"type": "CONFIRM_ORDER"})
        assert r.status_code == 200, r.text
        paid = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
        assert paid["state"] == "order_confirmation" and paid["order_id"]
        assert len(_succeeded_intents(localstripe, cid)) == 1

    @pytest.mark.parametrize("fault", ["fail_after", "hang_after"])
    async def test_charge_whose_answer_is_lost_is_never_charged_twice(
        self, api: Api, rt: Runtime, faulty: FaultyStripe, localstripe: LocalStripe, fault: str
    ) -> None:
        """Stripe takes the money but its answer is lost (500, or too late): the browser's
        retry finds the payment and makes the one order; nobody is charged twice."""
        cid = await self._to_confirm(api, rt)
        r = await api.post(f"/api/checkout/{cid}/events", json={"type": "CONFIRM_ORDER"})
        assert r.status_code == 200, r.text
        faulty.rules[("POST", "/confirm")] = fault
        first = await api.post("/api/payment/confirm", json={"checkout_id": cid})
        assert faulty.broken
        assert first.status_code < 500 or error_code(first) == "payment_gateway_unavailable"
        assert len(_succeeded_intents(localstripe, cid)) == 1  # the money was taken, once
        faulty.rules.clear()
        again = await api.post("/api/payment/confirm", json={"checkout_id": cid})
        assert again.status_code == 200, again.text
        assert again.json()["state"] == "order_confirmation" and again.json()["order_id"]
        assert len(_succeeded_intents(localstripe, cid)) == 1
        async with rt.db.transaction() as s:
            orders = list(await s.scalars(select(Order).where(Order.checkout_id == cid)))
        assert len(orders) == 1
