"""The example shops (examples/flask_shop, examples/django_shop) in process, against the
loopback stand-in of tillpoint's API: what Buy sends, where it sends the shopper, what the
success page reads, and that the webhook receiver keeps a verified order once and refuses
a forged one. The whole path through the real tillpoint is tests/e2e/test_example_shops.py."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.client_api_stub import KEY, StubApi, serve_stub
from tests.unit.test_client_webhooks import BODY, SESSION

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRET = "whsec_example_shop_secret"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str


class Shop:
    """One example shop behind its framework's test client."""

    def get(self, path: str) -> Answer:
        raise NotImplementedError

    def post(self, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        raise NotImplementedError


class FlaskShop(Shop):
    def __init__(self) -> None:
        module = importlib.import_module("flask_shop.app")
        self.client = module.create_app().test_client()

    def get(self, path: str) -> Answer:
        r = self.client.get(path)
        return Answer(r.status_code, dict(r.headers), r.get_data(as_text=True))

    def post(self, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        r = self.client.post(path, data=body, headers=headers or {})
        return Answer(r.status_code, dict(r.headers), r.get_data(as_text=True))


class DjangoShop(Shop):
    def __init__(self) -> None:
        import django
        from django.test import Client

        if str(EXAMPLES / "django_shop") not in sys.path:
            sys.path.insert(0, str(EXAMPLES / "django_shop"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
        django.setup()
        from django.conf import settings

        settings.TILLPOINT_URL = os.environ["TILLPOINT_URL"]
        settings.SHOP_ORDERS_DB = Path(os.environ["SHOP_ORDERS_DB"])
        views = importlib.import_module("shop.views")
        views.tillpoint.cache_clear()
        views.book.cache_clear()
        self.client = Client(SERVER_NAME="127.0.0.1")

    def _answer(self, r: Any) -> Answer:
        return Answer(r.status_code, dict(r.headers), r.content.decode())

    def get(self, path: str) -> Answer:
        return self._answer(self.client.get(path))

    def post(self, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
        return self._answer(
            self.client.post(path, data=body, content_type="application/json", **extra)
        )


@dataclass(frozen=True)
class Case:
    name: str
    shop_url: str
    sku: str
    sku_slug: str
    own_slug: str
    own_name: str
    own_price: int


CASES = [
    Case("flask", "http://127.0.0.1:5001", "TEA-SENCHA", "sencha", "tasting-notebook",
         "Tea Tasting Notebook", 900),
    Case("django", "http://127.0.0.1:8001", "CANDLE-CEDAR", "cedar-candle", "linen-napkins",
         "Linen Napkins, set of 4", 2400),
]  # fmt: skip


@pytest.fixture
def stub() -> Iterator[StubApi]:
    yield from serve_stub()


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def shop(case: Case, stub: StubApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shop:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for name, value in {
        "TILLPOINT_URL": stub.url, "TILLPOINT_API_KEY": KEY, "TILLPOINT_WEBHOOK_SECRET": SECRET,
        "SHOP_URL": case.shop_url, "SHOP_ORDERS_DB": str(tmp_path / "orders.db"),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return FlaskShop() if case.name == "flask" else DjangoShop()


def signed(body: bytes, secret: str = SECRET, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Tillpoint-Signature": f"t={t},v1={v1}", "Content-Type": "application/json"}


def test_the_product_pages_show_the_shops_own_prices(shop: Shop, case: Case) -> None:
    home = shop.get("/")
    assert home.status == 200 and case.own_name.replace("&", "&amp;") in home.text
    page = shop.get(f"/products/{case.own_slug}")
    assert f'data-price="{case.own_price}"' in page.text and ">Buy</button>" in page.text
    assert shop.get("/products/no-such-thing").status == 404


def test_buy_creates_a_session_and_sends_the_shopper_to_it(
    shop: Shop, case: Case, stub: StubApi
) -> None:
    answer = shop.post(f"/products/{case.own_slug}/buy")
    assert answer.status == 303
    assert answer.headers["Location"] == "http://pay.example/checkout/sessions/cs_0001"
    (seen,) = stub.seen
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    body = json.loads(seen.body)
    assert body["line_items"] == [
        {"price_data": {"currency": "USD", "unit_amount": case.own_price, "name": case.own_name},
         "quantity": 1}
    ]  # fmt: skip
    assert body["success_url"] == f"{case.shop_url}/success?session_id={{CHECKOUT_SESSION_ID}}"
    assert body["cancel_url"] == f"{case.shop_url}/products/{case.own_slug}"
    assert body["client_reference_id"].startswith(case.name + "-")
    shop.post(f"/products/{case.sku_slug}/buy")
    assert json.loads(stub.seen[1].body)["line_items"][0]["sku"] == case.sku


def test_the_success_page_reads_the_session(shop: Shop, case: Case) -> None:
    shop.post(f"/products/{case.own_slug}/buy")
    page = shop.get("/success?session_id=cs_0001")
    assert page.status == 200 and "being confirmed" in page.text and "is open" in page.text
    assert shop.get("/success?session_id=cs_nope").status == 404
    assert shop.get("/success").status == 404


def test_a_verified_completion_is_recorded_once(shop: Shop) -> None:
    assert "No paid orders yet" in shop.get("/orders").text
    for _ in range(2):  # tillpoint redelivers until answered: the second is a no-op
        assert shop.post("/webhooks/tillpoint", BODY, signed(BODY)).status == 200
    orders = shop.get("/orders").text
    assert orders.count(f'data-session-id="{SESSION["id"]}"') == 1
    assert "TP-2026-000001" in orders and 'data-amount-total="1850"' in orders


@pytest.mark.parametrize(
    "forged",
    [
        lambda: (BODY.replace(b"1850", b"1"), signed(BODY)),
        lambda: (BODY, signed(BODY, secret="whsec_someone_else")),
        lambda: (BODY, signed(BODY, t=int(time.time()) - 3600)),
        lambda: (BODY, {"Content-Type": "application/json"}),
    ],
    ids=["tampered", "wrong-secret", "replayed", "unsigned"],
)
def test_a_forged_delivery_is_refused_and_not_recorded(shop: Shop, forged: Any) -> None:
    body, headers = forged()
    assert shop.post("/webhooks/tillpoint", body, headers).status == 400
    assert "No paid orders yet" in shop.get("/orders").text


def test_buy_says_so_when_tillpoint_refuses(shop: Shop, case: Case, stub: StubApi) -> None:
    stub.refuse_next = ("out_of_stock", "Only 0 left.")
    refused = shop.post(f"/products/{case.sku_slug}/buy")
    assert refused.status == 422 and 'role="alert"' in refused.text
    assert "Only 0 left." in refused.text
