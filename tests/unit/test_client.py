"""tillpoint.client against a loopback server speaking the checkout-session API (and
httpx.MockTransport for scripted network failures): the same behaviour sync and async."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.client_api_stub import KEY, READ_ONLY_KEY, StubApi, serve_stub, session_json
from tillpoint.client import (
    APIConnectionError,
    APIError,
    AsyncTillpointClient,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    PriceData,
    PriceDataLineItem,
    SkuLineItem,
    TillpointClient,
)

SUCCESS = "http://shop.example/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://shop.example/cart"
LINES = [
    SkuLineItem(sku="TEA-SENCHA", quantity=2),
    PriceDataLineItem(price_data=PriceData(currency="USD", unit_amount=1500, name="Mug")),
]


class Caller:
    """One client, sync or async, called the same way: ``caller.call("get_checkout_session",
    "cs_1")``. The async one runs each call in its own event loop."""

    def __init__(self, kind: str, base_url: str, key: str = KEY, **options: Any) -> None:
        self.kind, self.base_url, self.key, self.options = kind, base_url, key, options

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        options = {"retry_backoff": 0.0, **self.options}
        if self.kind == "sync":
            with TillpointClient(self.base_url, self.key, **options) as client:
                return getattr(client, method)(*args, **kwargs)

        async def run() -> Any:
            # An httpx.MockTransport serves httpx.Client and httpx.AsyncClient alike.
            async with AsyncTillpointClient(self.base_url, self.key, **options) as client:
                return await getattr(client, method)(*args, **kwargs)

        return asyncio.run(run())

    def create(self, **kwargs: Any) -> Any:
        return self.call(
            "create_checkout_session",
            **{"line_items": LINES, "success_url": SUCCESS, "cancel_url": CANCEL, **kwargs},
        )


@pytest.fixture
def stub() -> Iterator[StubApi]:
    yield from serve_stub()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def caller(kind: str, stub: StubApi) -> Caller:
    return Caller(kind, stub.url)


def test_create_sends_the_body_the_key_and_an_idempotency_key(
    caller: Caller, stub: StubApi
) -> None:
    session = caller.create(client_reference_id="order-42", metadata={"cart": "7"})
    assert session.id == "cs_0001" and session.status == "open"
    assert session.url == "http://pay.example/checkout/sessions/cs_0001"
    assert session.amount_total == 2 * 1250 + 1500
    assert [line.sku for line in session.line_items] == ["TEA-SENCHA", None]
    assert session.created_at.tzinfo is not None
    (seen,) = stub.seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/checkout-sessions")
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert uuid.UUID(seen.headers["Idempotency-Key"]).version == 4
    assert json.loads(seen.body) == {
        "line_items": [
            {"sku": "TEA-SENCHA", "quantity": 2},
            {"price_data": {"currency": "USD", "unit_amount": 1500, "name": "Mug"}, "quantity": 1},
        ],
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        "client_reference_id": "order-42",
        "metadata": {"cart": "7"},
    }


def test_each_call_has_a_fresh_idempotency_key_unless_given(caller: Caller, stub: StubApi) -> None:
    first, second = caller.create(), caller.create()
    assert first.id != second.id
    again = caller.create(idempotency_key="cart-7-try")
    replay = caller.create(idempotency_key="cart-7-try")
    assert replay.id == again.id
    keys = [s.headers["Idempotency-Key"] for s in stub.seen]
    assert len(set(keys[:2])) == 2 and keys[2:] == ["cart-7-try", "cart-7-try"]


def test_get_and_expire(caller: Caller, stub: StubApi) -> None:
    made = caller.create()
    assert caller.call("get_checkout_session", made.id) == made
    expired = caller.call("expire_checkout_session", made.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(ConflictError) as refused:
        caller.call("expire_checkout_session", made.id)
    assert (refused.value.status, refused.value.code) == (409, "checkout_session_not_open")
    assert [(s.method, s.path) for s in stub.seen[1:]] == [
        ("GET", f"/api/v1/checkout-sessions/{made.id}"),
        ("POST", f"/api/v1/checkout-sessions/{made.id}/expire"),
        ("POST", f"/api/v1/checkout-sessions/{made.id}/expire"),
    ]


def test_an_id_cannot_reach_another_route(caller: Caller, stub: StubApi) -> None:
    with pytest.raises(NotFoundError) as missing:
        caller.call("get_checkout_session", "../../admin/users")
    assert missing.value.code == "checkout_session_not_found"
    assert stub.seen[0].path == "/api/v1/checkout-sessions/..%2F..%2Fadmin%2Fusers"
    with pytest.raises(ValueError, match="id is required"):  # not the collection's URL
        caller.call("get_checkout_session", "")
    assert len(stub.seen) == 1


def test_refusals_carry_status_code_and_field_paths(caller: Caller) -> None:
    with pytest.raises(InvalidRequestError) as bad:
        caller.create(line_items=[LINES[0], SkuLineItem(sku="NO-SUCH-SKU")])
    assert (bad.value.status, bad.value.code) == (422, "unknown_sku")
    assert [f.path for f in bad.value.fields] == [("line_items", 1, "sku")]
    assert bad.value.fields[0].code == "unknown_sku"
    with pytest.raises(NotFoundError) as missing:
        caller.call("get_checkout_session", "cs_nope")
    assert (missing.value.status, missing.value.code) == (404, "checkout_session_not_found")


def test_a_reused_idempotency_key_with_another_body_is_a_conflict(caller: Caller) -> None:
    caller.create(idempotency_key="k-1")
    with pytest.raises(ConflictError) as reused:
        caller.create(idempotency_key="k-1", client_reference_id="other")
    assert reused.value.code == "idempotency_key_reused"


def test_a_bad_key_and_a_missing_scope(kind: str, stub: StubApi) -> None:
    with pytest.raises(AuthenticationError) as unknown:
        Caller(kind, stub.url, key="tp_sk_wrong").call("get_checkout_session", "cs_1")
    assert (unknown.value.status, unknown.value.code) == (401, "invalid_api_key")
    with pytest.raises(PermissionDeniedError) as scope:
        Caller(kind, stub.url, key=READ_ONLY_KEY).create()
    assert (scope.value.status, scope.value.code) == (403, "api_key_scope_missing")
    assert len(stub.seen) == 2  # refusals are not retried


def test_a_timeout_is_a_connection_error(kind: str, stub: StubApi) -> None:
    stub.hang = threading.Event()
    with pytest.raises(APIConnectionError) as failed:
        Caller(kind, stub.url, timeout=0.3, max_retries=1).create()
    assert failed.value.status is None and failed.value.code == "api_connection_error"
    assert "Timeout" in failed.value.message
    keys = {s.headers["Idempotency-Key"] for s in stub.seen}
    assert len(stub.seen) == 2 and len(keys) == 1  # retried once, with the same key


def test_nothing_listening_is_a_connection_error(kind: str) -> None:
    with socket.socket() as s:  # a loopback port on which nothing listens
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(APIConnectionError) as failed:
        Caller(kind, url, max_retries=0).call("get_checkout_session", "cs_1")
    assert "ConnectError" in failed.value.message


def scripted(*steps: int | type[Exception]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering each request with the next step (a status, or raising a
    transport error); 201 answers a session built from the request's body."""
    requests: list[httpx.Request] = []
    script = list(steps)

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        step = script.pop(0)
        if not isinstance(step, int):
            raise step("scripted failure", request=request)  # type: ignore[call-arg]
        if step == 201:
            return httpx.Response(201, json=session_json(1, json.loads(request.content)))
        return httpx.Response(step, json={"error": {"code": f"e{step}", "message": "no"}})

    return httpx.MockTransport(answer), requests


@pytest.mark.parametrize(
    "steps",
    [(503, 201), (httpx.ConnectError, 201), (httpx.ReadTimeout, 502, 201)],
    ids=["503", "connect-error", "timeout-then-502"],
)
def test_retries_resend_the_same_request_with_the_same_key(kind: str, steps: Any) -> None:
    transport, requests = scripted(*steps)
    session = Caller(kind, "http://pay.example", transport=transport).create()
    assert session.id == "cs_0001"
    assert len(requests) == len(steps)
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert len({r.content for r in requests}) == 1


def test_retries_stop_after_max_retries(kind: str) -> None:
    transport, requests = scripted(503, 503, 503)
    with pytest.raises(APIError) as failed:
        Caller(kind, "http://pay.example", transport=transport, max_retries=2).create()
    assert (failed.value.status, failed.value.code) == (503, "e503")
    assert len(requests) == 3
    transport, requests = scripted(httpx.ReadTimeout, httpx.ReadTimeout)
    with pytest.raises(APIConnectionError):
        Caller(kind, "http://pay.example", transport=transport, max_retries=1).create()
    assert len(requests) == 2


def test_an_answer_that_is_not_json_is_an_api_error(kind: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        status = 200 if request.method == "GET" else 500
        return httpx.Response(status, text="<html>proxy error</html>")

    caller = Caller(kind, "http://pay.example", transport=httpx.MockTransport(answer))
    with pytest.raises(APIError) as server:
        caller.create()
    assert (server.value.status, server.value.code) == (500, "http_500")
    with pytest.raises(APIError) as garbled:
        caller.call("get_checkout_session", "cs_1")
    assert garbled.value.code == "unreadable_answer"


def test_money_is_integer_minor_units() -> None:
    with pytest.raises(ValidationError):
        PriceData(currency="USD", unit_amount=15.5, name="Mug")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PriceData(currency="USD", unit_amount="1500", name="Mug")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SkuLineItem(sku="TEA-SENCHA", quantity=1, colour="red")  # type: ignore[call-arg]
