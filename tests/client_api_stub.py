"""A loopback HTTP server answering the checkout-session API as docs/ and the issue 22
contract describe it (bearer auth, Idempotency-Key, error bodies), for the client's unit
tests; it records every request. ``hang`` makes it hold answers (a timeout test)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "tp_sk_test_0123456789"
READ_ONLY_KEY = "tp_sk_read_only_0123"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubApi:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    replays: dict[str, tuple[bytes, int, dict[str, Any]]] = field(default_factory=dict)
    hang: threading.Event | None = None
    refuse_next: tuple[str, str] | None = None  # (code, message): the next create is a 422


def session_json(n: int, body: dict[str, Any]) -> dict[str, Any]:
    lines = [
        {"sku": item.get("sku"), "name": item.get("price_data", {}).get("name", item.get("sku")),
         "quantity": item["quantity"], "unit_amount": item.get("price_data", {}).get(
             "unit_amount", 1250), "amount_total": 0}
        for item in body["line_items"]
    ]  # fmt: skip
    for line in lines:
        line["amount_total"] = line["unit_amount"] * line["quantity"]
    total = sum(line["amount_total"] for line in lines)
    return {
        "id": f"cs_{n:04d}", "object": "checkout_session", "status": "open",
        "url": f"http://pay.example/checkout/sessions/cs_{n:04d}",
        "expires_at": "2026-12-08T23:00:00+00:00", "created_at": "2026-12-07T23:00:00+00:00",
        "success_url": body["success_url"], "cancel_url": body["cancel_url"],
        "client_reference_id": body.get("client_reference_id"),
        "customer_email": body.get("customer_email"), "metadata": body.get("metadata", {}),
        "allow_coupons": body.get("allow_coupons", False), "currency": "USD",
        "amount_subtotal": total, "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0,
        "amount_total": total, "line_items": lines, "order_id": None, "order_number": None,
        "a_field_added_later": True,
    }  # fmt: skip


def error(code: str, message: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or []}}


def _create(api: StubApi, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
    key = headers.get("Idempotency-Key")
    if key in api.replays:
        seen_body, status, answer = api.replays[key]
        if seen_body != raw:
            return 409, error("idempotency_key_reused", "that key was used with another body")
        return status, answer
    if api.refuse_next is not None:
        (code, message), api.refuse_next = api.refuse_next, None
        problem = {"path": ["line_items", 0, "sku"], "code": code, "message": message}
        return 422, error(code, message, [problem])
    body = json.loads(raw)
    for i, item in enumerate(body["line_items"]):
        if item.get("sku") == "NO-SUCH-SKU":
            problem = {"path": ["line_items", i, "sku"], "code": "unknown_sku", "message": "?"}
            return 422, error("unknown_sku", "no such SKU", [problem])
    answer = session_json(len(api.sessions) + 1, body)
    api.sessions[answer["id"]] = answer
    if key is not None:
        api.replays[key] = (raw, 201, answer)
    return 201, answer


def route(api: StubApi, method: str, path: str, headers: dict[str, str], raw: bytes) -> Any:
    """(status, json) for one request."""
    auth = headers.get("Authorization", "")
    if auth not in (f"Bearer {KEY}", f"Bearer {READ_ONLY_KEY}"):
        return 401, error("invalid_api_key", "unknown or revoked API key")
    base = "/api/v1/checkout-sessions"
    if method == "POST" and auth == f"Bearer {READ_ONLY_KEY}":
        return 403, error("api_key_scope_missing", "needs checkout_sessions:write")
    if method == "POST" and path == base:
        return _create(api, headers, raw)
    if path.startswith(base + "/"):
        rest = path[len(base) + 1 :]
        session_id, _, action = rest.partition("/")
        found = api.sessions.get(session_id)
        if found is None:
            return 404, error("checkout_session_not_found", f"no checkout session {session_id}")
        if method == "GET" and not action:
            return 200, found
        if method == "POST" and action == "expire":
            if found["status"] != "open":
                return 409, error("checkout_session_not_open", "the session is not open")
            found.update(status="expired", url=None)
            return 200, found
    return 404, error("not_found", "no such route")


def _handler(api: StubApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            api.seen.append(Seen(self.command, self.path, headers, raw))
            if api.hang is not None:
                api.hang.wait(30)
            status, payload = route(api, self.command, self.path, headers, raw)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (the timeout test)
                pass

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def serve_stub() -> Iterator[StubApi]:
    api = StubApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        if api.hang is not None:
            api.hang.set()
        server.shutdown()
        server.server_close()
