"""Loopback stand-ins for the inventory providers' HTTP APIs, as their public references
describe them (the version each follows is in its class docstring): request and answer
shapes, authentication, pagination, error bodies and 429 answers with their headers.

One ThreadingHTTPServer on 127.0.0.1 serves all three (by path prefix). Tests queue
``faults`` (an answer, or ``HANG``: no answer until the test ends, so the client's own
timeout fires) and read ``seen`` (every request, with its headers)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

SHOPIFY_TOKEN = "shpat_loopback_token_0123456789"
SHOPIFY_VERSION = "2024-01"
WOO_KEY, WOO_SECRET = "ck_loopback_key_0123", "cs_loopback_secret_4567"
SHIPSTATION_KEY = "TEST_shipstation_v2_key_0123"
SS_V1_KEY, SS_V1_SECRET = "v1key0123", "v1secret4567"

HANG = "hang"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Fault:
    """Answer ``answer`` (or hang) to the next request whose path starts with ``prefix``
    (and, with ``needs``, whose query has that parameter: a later page)."""

    prefix: str
    answer: Answer | str
    needs: str | None = None


@dataclass
class ShopifyState:
    """Shopify Admin REST API 2024-01: ``inventory_levels.json`` (``location_ids`` or
    ``inventory_item_ids`` required), ``inventory_items.json?ids=`` (at most 100 ids) and
    ``inventory_items/{id}.json`` (each item carries its variant's ``sku``; the items are
    made from ``products`` here), ``products.json``; cursor pagination by
    ``Link: <...?limit=..&page_info=..>; rel="next"`` where a ``page_info`` request takes no
    filter but ``limit``; ``{"errors": ...}`` error bodies."""

    products: list[dict[str, Any]] = field(default_factory=list)
    levels: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 250


@dataclass
class WooState:
    """WooCommerce REST API v3 (``/wp-json/wc/v3``): ``products`` and
    ``products/{id}/variations`` with ``per_page`` (at most 100) and ``page``,
    ``X-WP-Total``/``X-WP-TotalPages`` headers, Basic auth with the consumer key and
    secret, WordPress error bodies ``{"code", "message", "data": {"status"}}``."""

    products: list[dict[str, Any]] = field(default_factory=list)
    variations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 100


@dataclass
class ShipStationState:
    """ShipStation API v2 ``GET /v2/inventory`` (``API-Key`` header; ``inventory`` rows with
    ``sku``, ``on_hand``, ``allocated``, ``available``, warehouse and location ids; ``total``,
    ``page``, ``pages`` and ``links.next.href``; errors ``{"request_id", "errors": [...]}``;
    429 with ``Retry-After``) and API v1 webhook resources (``/shipments?...``, Basic auth
    key:secret, ``{"shipments": [{"shipmentItems": [...]}]}``, 429 with
    ``X-Rate-Limit-Limit``/``-Remaining``/``-Reset``)."""

    inventory: list[dict[str, Any]] = field(default_factory=list)
    shipments: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 500


@dataclass
class FakeProviders:
    url: str = ""
    shopify: ShopifyState = field(default_factory=ShopifyState)
    woo: WooState = field(default_factory=WooState)
    shipstation: ShipStationState = field(default_factory=ShipStationState)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def fail_next(
        self, prefix: str, answer: Answer | str, times: int = 1, needs: str | None = None
    ) -> None:
        self.faults.extend(Fault(prefix, answer, needs) for _ in range(times))

    def paths(self, prefix: str = "") -> list[str]:
        return [s.path for s in self.seen if s.path.startswith(prefix)]

    # --- routing ---------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Any:
        self.seen.append(Seen(path, query, headers))
        for fault in self.faults:
            if path.startswith(fault.prefix) and (fault.needs is None or fault.needs in query):
                self.faults.remove(fault)
                return fault.answer
        if path.startswith("/admin/api/"):
            return self._shopify(path, query, headers)
        if path.startswith("/wp-json/wc/v3/"):
            return self._woo(path, query, headers)
        if path.startswith("/v2/"):
            return self._shipstation_v2(path, query, headers)
        return self._shipstation_v1(path, query, headers)

    # --- Shopify ---------------------------------------------------------------------

    def _shopify(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Any:
        if headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
            return Answer(401, {"errors": "[API] Invalid API key or access token "
                                "(unrecognized login or wrong password)"})  # fmt: skip
        prefix = f"/admin/api/{SHOPIFY_VERSION}"
        rest = path[len(prefix) :] if path.startswith(prefix) else ""
        q = {k: v[0] for k, v in query.items()}
        if "page_info" in q and set(q) - {"page_info", "limit"}:
            return Answer(400, {"errors": {"page_info": ["Invalid value."]}})
        if rest == "/products.json":
            return self._shopify_page(path, q, "products", self.shopify.products)
        if rest == "/inventory_levels.json":
            return self._shopify_levels(path, q)
        if rest == "/inventory_items.json":
            return self._shopify_items(q)
        if rest.startswith("/inventory_items/") and rest.endswith(".json"):
            item = rest[len("/inventory_items/") : -len(".json")]
            for p in self.shopify.products:
                for v in p["variants"]:
                    if str(v["inventory_item_id"]) == item:
                        item_body = {"id": v["inventory_item_id"], "sku": v["sku"], "tracked": True}
                        return Answer(200, {"inventory_item": item_body})
        return Answer(404, {"errors": "Not Found"})

    def _shopify_item_rows(self) -> dict[str, dict[str, Any]]:
        return {str(v["inventory_item_id"]): {"id": v["inventory_item_id"], "sku": v["sku"],
                                              "tracked": True, "requires_shipping": True}
                for p in self.shopify.products for v in p["variants"]}  # fmt: skip

    def _shopify_items(self, q: dict[str, str]) -> Answer:
        ids = [x for x in q.get("ids", "").split(",") if x]
        if not ids or len(ids) > 100:
            return Answer(422, {"errors": {"ids": ["must have 1 to 100 ids"]}})
        rows = self._shopify_item_rows()
        return Answer(200, {"inventory_items": [rows[i] for i in ids if i in rows]})

    def _shopify_levels(self, path: str, q: dict[str, str]) -> Answer:
        if "page_info" in q:
            return self._shopify_page(path, q, "inventory_levels", [])
        locations = {int(x) for x in q.get("location_ids", "").split(",") if x}
        items = {int(x) for x in q.get("inventory_item_ids", "").split(",") if x}
        if not locations and not items:
            return Answer(422, {"errors": {"base": [
                "inventory_item_ids or location_ids is required"]}})  # fmt: skip
        rows = [lv for lv in self.shopify.levels
                if (not locations or lv["location_id"] in locations)
                and (not items or lv["inventory_item_id"] in items)]  # fmt: skip
        return self._shopify_page(path, q, "inventory_levels", rows)

    def _shopify_page(self, path: str, q: dict[str, str], key: str, rows: list[Any]) -> Answer:
        """Cursor pages: page_info is an opaque token of (key, offset, the filtered rows)."""
        limit = min(int(q.get("limit", 50)), 250, self.shopify.page_size)
        if "page_info" in q:
            token = json.loads(base64.urlsafe_b64decode(q["page_info"]))
            rows, start = token["rows"], token["offset"]
        else:
            start = 0
        page = rows[start : start + limit]
        headers = {}
        if start + limit < len(rows):
            token = {"offset": start + limit, "rows": rows}
            info = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            nxt = f"{self.url}{path}?{urlencode({'limit': limit, 'page_info': info})}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return Answer(200, {key: page}, headers)

    # --- WooCommerce -------------------------------------------------------------------

    def _woo(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Any:
        auth = headers.get("authorization", "")
        good = "Basic " + base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
        if auth != good:
            return Answer(401, {"code": "woocommerce_rest_authentication_error",
                                "message": "Consumer key is invalid.",
                                "data": {"status": 401}})  # fmt: skip
        q = {k: v[0] for k, v in query.items()}
        per_page, page = int(q.get("per_page", 10)), int(q.get("page", 1))
        if not 1 <= per_page <= 100:
            return Answer(400, {"code": "rest_invalid_param",
                                "message": "Invalid parameter(s): per_page",
                                "data": {"status": 400}})  # fmt: skip
        rest = path[len("/wp-json/wc/v3") :]
        if rest == "/products":
            rows = self.woo.products
        elif rest.startswith("/products/") and rest.endswith("/variations"):
            rows = self.woo.variations.get(int(rest.split("/")[2]), [])
        else:
            return Answer(404, {"code": "rest_no_route", "message": "No route was found "
                                "matching the URL and request method.",
                                "data": {"status": 404}})  # fmt: skip
        size = min(per_page, self.woo.page_size)
        pages = max(1, -(-len(rows) // size))
        chunk = rows[(page - 1) * size : page * size]
        return Answer(200, chunk, {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)})

    # --- ShipStation -------------------------------------------------------------------

    def _shipstation_v2(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> Any:
        if headers.get("api-key") != SHIPSTATION_KEY:
            return Answer(401, {"request_id": "req-401", "errors": [{
                "error_source": "shipstation", "error_type": "security",
                "error_code": "unauthorized",
                "message": "The API key is invalid."}]})  # fmt: skip
        if path != "/v2/inventory":
            return Answer(404, {"request_id": "req-404", "errors": [{
                "error_source": "shipstation", "error_type": "system",
                "error_code": "not_found", "message": "Not found"}]})  # fmt: skip
        q = {k: v[0] for k, v in query.items()}
        rows = [r for r in self.shipstation.inventory
                if ("sku" not in q or r["sku"] == q["sku"])
                and ("inventory_warehouse_id" not in q
                     or r["inventory_warehouse_id"] == q["inventory_warehouse_id"])]  # fmt: skip
        size = min(int(q.get("limit", 100)), self.shipstation.page_size)
        page = int(q.get("page", 1))
        pages = max(1, -(-len(rows) // size))
        links: dict[str, Any] = {"first": {"href": self._ss_href(q, 1)}, "next": {}}
        if page < pages:
            links["next"] = {"href": self._ss_href(q, page + 1)}
        chunk = rows[(page - 1) * size : page * size]
        body = {"inventory": chunk, "total": len(rows), "page": page, "pages": pages,
                "links": links}  # fmt: skip
        return Answer(200, body)

    def _ss_href(self, q: dict[str, str], page: int) -> str:
        return f"{self.url}/v2/inventory?{urlencode({**q, 'page': page})}"

    def _shipstation_v1(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> Any:
        good = "Basic " + base64.b64encode(f"{SS_V1_KEY}:{SS_V1_SECRET}".encode()).decode()
        if headers.get("authorization") != good:
            return Answer(401, "401 Unauthorized")
        if path == "/shipments":
            body = {"shipments": self.shipstation.shipments, "total": 1, "page": 1, "pages": 1}
            return Answer(200, body)
        return Answer(404, {"Message": "No HTTP resource was found that matches the request URI."})


def _handler(fake: FakeProviders) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.answer(parts.path, parse_qs(parts.query), headers)
            if answer == HANG:
                fake.release.wait(30)  # until the test ends; the client timed out long before
                return
            self._send(answer)

        def _send(self, answer: Answer) -> None:
            raw = (
                answer.body.encode()
                if isinstance(answer.body, str)
                else json.dumps(answer.body).encode()
            )
            ctype = "text/plain" if isinstance(answer.body, str) else "application/json"
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)
            except OSError:
                pass

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


def serve_providers() -> Iterator[FakeProviders]:
    """Start the stand-ins on a free loopback port; stop them afterwards."""
    fake = FakeProviders()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


def provider_settings(fake: FakeProviders) -> dict[str, Any]:
    """Settings that point every provider at the stand-ins (short timeout, no 429 wait
    longer than a second)."""
    return {
        "inventory_provider_timeout_seconds": 1.0,
        "inventory_provider_max_retry_wait_seconds": 1.0,
        "inventory_shopify_shop_url": fake.url,
        "inventory_shopify_access_token": SHOPIFY_TOKEN,
        "inventory_shopify_api_version": SHOPIFY_VERSION,
        "inventory_shopify_location_ids": "655441491,655441492",
        "inventory_woocommerce_url": fake.url,
        "inventory_woocommerce_consumer_key": WOO_KEY,
        "inventory_woocommerce_consumer_secret": WOO_SECRET,
        "inventory_shipstation_url": fake.url,
        "inventory_shipstation_api_key": SHIPSTATION_KEY,
        "inventory_shipstation_v1_url": fake.url,
        "inventory_shipstation_v1_api_key": SS_V1_KEY,
        "inventory_shipstation_v1_api_secret": SS_V1_SECRET,
    }
