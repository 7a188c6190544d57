"""Loopback HTTP servers that speak FedEx's, USPS's and UPS's documented APIs.

- FedEx: API Authorization (``POST /oauth/token``, form-encoded client credentials) and
  Rates and Transit Times API v1 (``POST /rate/v1/rates/quotes``), error bodies
  ``{"transactionId", "errors": [{"code", "message"}]}`` (developer.fedex.com, Rate API v1).
- USPS: OAuth 2.0 v3 (``POST /oauth2/v3/token``, JSON body, ``expires_in`` as a string) and
  Addresses API v3 (``GET /addresses/v3/address``), error bodies ``{"apiVersion",
  "error": {"code", "message", "errors": [...]}}`` (developers.usps.com, Addresses 3.0).
- UPS: Rating API v2403 ``POST /api/rating/v2403/Shop`` (only what the merge tests need).

Each server checks what the provider checks (grant type, credentials, bearer token,
required fields) and answers from its own data; a test scripts failures by queueing
answers (status, body, headers) per path or by holding requests until the test ends (timeouts).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any


@dataclass
class FakeProvider:
    """What every fake shares: recorded requests, scripted answers, a hold for timeouts."""

    client_id: str = "client-id"
    client_secret: str = "client-secret"
    expires_in: int = 3599
    requests: list[Recorded] = field(default_factory=list)
    scripted: dict[str, list[Answer]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    hold: asyncio.Event | None = None
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def of(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def issue_token(self) -> str:
        token = f"tok-{next(self._serial)}"
        self.tokens.add(token)
        return token

    def bearer_ok(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.tokens

    async def record(self, request: web.Request, body: Any) -> Answer | None:
        """Record the request; a scripted answer if one is queued; wait while held."""
        self.requests.append(
            Recorded(request.method, request.path, dict(request.headers), dict(request.query), body)
        )
        if self.hold is not None:
            await self.hold.wait()
        queue = self.scripted.get(request.path) or []
        return queue.pop(0) if queue else None

    def script(self, path: str, *answers: Answer) -> None:
        """Answer the next requests to ``path`` with ``answers``, in order."""
        self.scripted.setdefault(path, []).extend(answers)


def as_json(body: Any) -> str:
    # A Decimal goes out as the JSON number it reads as (FedEx sends charges as numbers).
    return json.dumps(body, default=float)


def reply(answer: Answer) -> web.Response:
    status, body, headers = answer
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    return web.json_response(body, status=status, headers=headers, dumps=as_json)


# --- FedEx ------------------------------------------------------------------------------


def fedex_error(status: int, code: str, message: str) -> Answer:
    body = {
        "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
        "errors": [{"code": code, "message": message}],
    }
    return status, body, {}


def fedex_rated(rate_type: str, charge: Any, currency: str = "USD") -> dict[str, Any]:
    return {
        "rateType": rate_type,
        "ratedWeightMethod": "ACTUAL",
        "totalBaseCharge": charge,
        "totalNetCharge": charge,
        "totalNetFedExCharge": charge,
        "shipmentRateDetail": {"currency": currency},
        "currency": currency,
    }


def fedex_reply_detail(
    service: str, rated: list[dict[str, Any]], transit: str | None = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "serviceType": service,
        "serviceName": service.replace("_", " ").title(),
        "packagingType": "YOUR_PACKAGING",
        "ratedShipmentDetails": rated,
        "operationalDetail": {"ineligibleForMoneyBackGuarantee": False},
    }
    if transit:
        detail["operationalDetail"]["transitTime"] = transit
    return detail


@dataclass
class FakeFedEx(FakeProvider):
    """FedEx's answers: ``rates`` is the ``rateReplyDetails`` of a successful quote."""

    account_number: str = "740561073"
    rates: list[dict[str, Any]] = field(default_factory=list)

    async def token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return reply(fedex_error(400, "BAD.REQUEST.ERROR", "Content-Type must be form."))
        form = {k: str(v) for k, v in (await request.post()).items()}
        scripted = await self.record(request, form)
        if scripted:
            return reply(scripted)
        if form.get("grant_type") != "client_credentials":
            return reply(fedex_error(400, "BAD.REQUEST.ERROR", "Invalid grant_type."))
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return reply(
                fedex_error(
                    401,
                    "NOT.AUTHORIZED.ERROR",
                    "The given client credentials were not valid. Please modify your "
                    "request and try again.",
                )
            )
        return web.json_response(
            {
                "access_token": self.issue_token(),
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "scope": "CXS",
            }
        )

    async def quotes(self, request: web.Request) -> web.Response:
        body = await request.json()
        scripted = await self.record(request, body)
        if not self.bearer_ok(request):
            return reply(
                fedex_error(
                    401,
                    "NOT.AUTHORIZED.ERROR",
                    "Access token expired. Please modify your request and try again.",
                )
            )
        if scripted:
            return reply(scripted)
        shipment = body.get("requestedShipment") or {}
        missing = [
            k
            for k in ("shipper", "recipient", "pickupType", "requestedPackageLineItems")
            if not shipment.get(k)
        ]
        if missing or body.get("accountNumber", {}).get("value") != self.account_number:
            return reply(
                fedex_error(
                    400, "INVALID.INPUT.EXCEPTION", f"Invalid field value in the input: {missing}"
                )
            )
        return web.json_response(
            {
                "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
                "output": {"rateReplyDetails": self.rates, "quoteDate": "2026-11-26"},
            },
            dumps=as_json,
        )


# --- USPS -------------------------------------------------------------------------------


def usps_error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Answer:
    body = {
        "apiVersion": "/addresses/v3",
        "error": {"code": str(status), "message": message, "errors": errors or []},
    }
    return status, body, {}


@dataclass
class FakeUSPS(FakeProvider):
    """USPS's answers: ``known`` maps (street as sent, ZIP code) to the standardized answer."""

    expires_in: int = 28799
    known: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json() if request.content_type == "application/json" else {}
        scripted = await self.record(request, body)
        if scripted:
            return reply(scripted)
        if body.get("grant_type") != "client_credentials":
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "grant_type"}, status=400
            )
        if (body.get("client_id"), body.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return web.json_response(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status=401,
            )
        return web.json_response(
            {
                "access_token": self.issue_token(),
                "token_type": "Bearer",
                "issued_at": "1764151200000",
                "expires_in": str(self.expires_in),
                "status": "approved",
                "scope": "addresses",
                "issuer": "api.usps.com",
                "client_id": self.client_id,
            }
        )

    async def address(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        scripted = await self.record(request, None)
        if not self.bearer_ok(request):
            return reply(usps_error(401, ""))
        if scripted:
            return reply(scripted)
        if not query.get("streetAddress") or not query.get("state"):
            return reply(
                usps_error(
                    400,
                    "OASValidation OpenAPI-Spec-Validation-Addresses with resource "
                    '"/address": failed with reason: "[ERROR - Parameter is required]"',
                    [{"status": "400", "code": "OASValidation", "title": "required parameter"}],
                )
            )
        found = self.known.get((query["streetAddress"], query.get("ZIPCode", "")))
        if found is None:
            return reply(usps_error(404, "Address Not Found."))
        return web.json_response(found)


def usps_answer(
    street: str,
    city: str,
    state: str,
    zip5: str,
    plus4: str,
    dpv: str = "Y",
    secondary: str | None = None,
    match: str = "31",
    vacant: str = "N",
) -> dict[str, Any]:
    return {
        "firm": None,
        "address": {
            "streetAddress": street,
            "streetAddressAbbreviation": None,
            "secondaryAddress": secondary,
            "city": city,
            "cityAbbreviation": None,
            "state": state,
            "postalCode": None,
            "province": None,
            "ZIPCode": zip5,
            "ZIPPlus4": plus4,
            "urbanization": None,
            "country": None,
            "countryISOCode": None,
        },
        "additionalInfo": {
            "deliveryPoint": "20",
            "carrierRoute": "C036",
            "DPVConfirmation": dpv,
            "DPVCMRA": "N",
            "business": "N",
            "centralDeliveryPoint": "N",
            "vacant": vacant,
        },
        "corrections": [{"code": "", "text": ""}],
        "matches": [{"code": match, "text": "Single Response - exact match"}] if match else [],
    }


# --- UPS (for the merge of two carriers) ------------------------------------------------


@dataclass
class FakeUPS(FakeProvider):
    rated: list[dict[str, Any]] = field(default_factory=list)

    async def shop(self, request: web.Request) -> web.Response:
        scripted = await self.record(request, await request.json())
        if scripted:
            return reply(scripted)
        return web.json_response({"RateResponse": {"RatedShipment": self.rated}})


# --- the server -------------------------------------------------------------------------


@asynccontextmanager
async def serve(
    fedex: FakeFedEx | None = None, usps: FakeUSPS | None = None, ups: FakeUPS | None = None
) -> AsyncIterator[str]:
    """Serve the given fakes on 127.0.0.1 (a free port); yields the base URL."""
    app = web.Application()
    if fedex:
        app.router.add_post("/oauth/token", fedex.token)
        app.router.add_post("/rate/v1/rates/quotes", fedex.quotes)
    if usps:
        app.router.add_post("/oauth2/v3/token", usps.token)
        app.router.add_get("/addresses/v3/address", usps.address)
    if ups:
        app.router.add_post("/api/rating/v2403/Shop", ups.shop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for fake in (fedex, usps, ups):
            if fake and fake.hold:
                fake.hold.set()  # let held handlers finish before the server stops
        await runner.cleanup()
