"""USPS Addresses API v3 adapter (``GET /addresses/v3/address``), for US addresses only.

Authorization is OAuth 2.0 client credentials (``POST /oauth2/v3/token``, a JSON body as
USPS's own examples send it); the token is reused until shortly before its
``expires_in`` and fetched again once if the API answers 401.

USPS answers the standardized ``address`` (upper case, ZIP+4), ``additionalInfo`` with the
delivery-point validation (``DPVConfirmation``: Y confirmed, S secondary unconfirmed, D
secondary missing, N not deliverable; ``vacant``) and ``matches``/``corrections`` codes.
A 404 is USPS positively knowing the address is not one it delivers to (no match, an
invalid delivery address, or several matches): the address is refused as undeliverable.
Every other failure (400, 401 twice, 403, 429, 5xx, timeout, an unreadable answer) raises
:class:`AddressProviderError`, and the built-in rules' answer stands.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from tillpoint.addresses.schemas import Address
from tillpoint.addresses.service import AddressProviderError, AddressValidation
from tillpoint.provider_http import (
    ClientCredentials,
    Now,
    ProviderHTTPError,
    RateLimitPause,
    answer_json,
)

# DPVConfirmation -> (valid, confidence, deliverability)
_DPV = {
    "Y": (True, 0.95, 1.0),
    "S": (True, 0.7, 0.8),
    "D": (True, 0.6, 0.6),
    "N": (False, 0.3, 0.1),
}
EXACT_MATCH = "31"  # matches[].code: "Single Response - exact match"


@dataclass
class USPSAddressValidation:
    """Standardise and check US addresses with the USPS Addresses API."""

    client_id: str
    client_secret: str = field(repr=False)
    clock_now: Now
    endpoint: str = "https://apis.usps.com"
    timeout: float = 3.0
    transport: httpx.AsyncBaseTransport | None = None
    name: str = "usps"
    credentials: ClientCredentials = field(init=False)
    pause: RateLimitPause = field(init=False)

    def __post_init__(self) -> None:
        self.credentials = ClientCredentials(
            f"{self.endpoint}/oauth2/v3/token",
            self.client_id,
            self.client_secret,
            self.clock_now,
            encoding="json",
        )
        self.pause = RateLimitPause(self.clock_now)

    def covers(self, country: str) -> bool:
        return country == "US"

    async def validate(self, address: Address) -> AddressValidation:
        try:
            self.pause.check()
            # One deadline for the whole answer: token, lookup and a retry after a 401 (it
            # starts before, so ends before, httpx's own per-request timeout).
            async with (
                asyncio.timeout(self.timeout),
                httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as c,
            ):
                resp = await self._lookup(c, address)
            if resp.status_code == 404:
                return AddressValidation(False, address, (), 0.0, 0.0, source=self.name)
            data: Any = answer_json(resp, "USPS address")
            return self._answer(address, data)
        except ProviderHTTPError as exc:
            raise AddressProviderError(f"USPS: {exc}") from exc
        except TimeoutError as exc:
            raise AddressProviderError("USPS: timeout") from exc
        except (httpx.HTTPError, KeyError, ValueError, TypeError, ValidationError) as exc:
            raise AddressProviderError(f"USPS: {exc!r}") from exc

    async def _lookup(self, c: httpx.AsyncClient, address: Address) -> httpx.Response:
        """The lookup's answer; a 401 drops the cached token and asks once more."""
        zip5, _, plus4 = address.zip_code.partition("-")
        params = {
            "streetAddress": address.street1,
            "secondaryAddress": address.street2 or "",
            "city": address.city,
            "state": address.state,
            "ZIPCode": zip5,
            "ZIPPlus4": plus4,
        }
        query = {k: v for k, v in params.items() if v}
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {await self.credentials.token(c)}",
                "Accept": "application/json",
            }
            resp = await c.get(
                f"{self.endpoint}/addresses/v3/address", params=query, headers=headers
            )
            self.pause.note(resp)
            if resp.status_code != 401 or attempt == 2:
                return resp
            self.credentials.forget()
        raise AssertionError("unreachable")

    def _answer(self, address: Address, data: dict[str, Any]) -> AddressValidation:
        found = data["address"]
        info = data.get("additionalInfo") or {}
        plus4 = found.get("ZIPPlus4")
        # Validated like typed input: a provider's answer is input too.
        standardized = Address.model_validate(
            {
                **address.model_dump(),
                "street1": found["streetAddress"],
                "street2": found.get("secondaryAddress") or None,
                "city": found["city"],
                "state": found["state"],
                "zip_code": f"{found['ZIPCode']}-{plus4}" if plus4 else found["ZIPCode"],
            }
        )
        valid, confidence, deliverable = _DPV.get(str(info.get("DPVConfirmation")), _DPV["N"])
        exact = any(m.get("code") == EXACT_MATCH for m in data.get("matches") or ())
        if valid and not exact:
            confidence -= 0.1
        if info.get("vacant") == "Y":
            deliverable = min(deliverable, 0.5)
        return AddressValidation(
            is_valid=valid,
            standardized_address=standardized,
            suggestions=(standardized,) if standardized != address else (),
            confidence=round(confidence, 2),
            deliverability_score=deliverable,
            source=self.name,
        )
