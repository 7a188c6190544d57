"""The seed's ``AddressValidationService``: built-in rules first, then an optional
external provider (Google Address Validation) for standardisation and deliverability.

The provider is a :class:`AddressProvider` (Google for any country, USPS for the US, or
both through :class:`ByCountry`); an address no provider covers gets the rules' answer.
When the provider fails, times out or answers
nonsense, the built-in rules' answer stands (the seed's ``fallback: manual_validation``).
The rules alone decide whether an address is acceptable in shape; a provider can only
add suggestions and scores, or flag an address it positively knows to be incomplete.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from tillpoint.addresses.rules import check_address
from tillpoint.addresses.schemas import Address
from tillpoint.clock import Clock
from tillpoint.config import Settings
from tillpoint.errors import FieldError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AddressValidation:
    """The seed's ``AddressValidation`` (scores are 0..1)."""

    is_valid: bool
    standardized_address: Address | None
    suggestions: tuple[Address, ...] = ()
    confidence: float = 0.0
    deliverability_score: float = 0.0
    errors: tuple[FieldError, ...] = ()
    source: str = "rules"

    def as_dict(self) -> dict[str, Any]:
        return {
            "is_valid": self.is_valid,
            "standardized_address": (
                self.standardized_address.model_dump() if self.standardized_address else None
            ),
            "suggestions": [s.model_dump() for s in self.suggestions],
            "confidence": self.confidence,
            "deliverability_score": self.deliverability_score,
            "source": self.source,
        }


class AddressProviderError(Exception):
    """The external provider could not give an answer (network, status, shape)."""


class AddressProvider(Protocol):
    name: str

    def covers(self, country: str) -> bool:
        """Whether this provider checks addresses of ``country`` (ISO alpha-2)."""
        ...

    async def validate(self, address: Address) -> AddressValidation: ...


@dataclass
class ByCountry:
    """Several providers: each address goes to the first that covers its country."""

    providers: tuple[AddressProvider, ...]
    name: str = "by_country"

    def covers(self, country: str) -> bool:
        return any(p.covers(country) for p in self.providers)

    async def validate(self, address: Address) -> AddressValidation:
        provider = next(p for p in self.providers if p.covers(address.country))
        return await provider.validate(address)


@dataclass
class GoogleAddressValidation:
    """Google Maps Platform Address Validation API (``v1:validateAddress``)."""

    api_key: str
    endpoint: str = "https://addressvalidation.googleapis.com/v1:validateAddress"
    timeout: float = 3.0
    transport: httpx.AsyncBaseTransport | None = None
    name: str = "google"

    def covers(self, country: str) -> bool:
        return True

    async def validate(self, address: Address) -> AddressValidation:
        body = {
            "address": {
                "regionCode": address.country,
                "postalCode": address.zip_code,
                "administrativeArea": address.state,
                "locality": address.city,
                "addressLines": [s for s in (address.street1, address.street2) if s],
            }
        }
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as c:
                r = await c.post(self.endpoint, params={"key": self.api_key}, json=body)
            r.raise_for_status()
            result = r.json()["result"]
            verdict = result.get("verdict", {})
            postal = result["address"]["postalAddress"]
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            raise AddressProviderError(str(exc)) from exc
        lines = list(postal.get("addressLines") or [address.street1])
        standardized = address.model_copy(
            update={
                "street1": lines[0],
                "street2": lines[1] if len(lines) > 1 else address.street2,
                "city": postal.get("locality") or address.city,
                "state": postal.get("administrativeArea") or address.state,
                "zip_code": postal.get("postalCode") or address.zip_code,
            }
        )
        complete = bool(verdict.get("addressComplete"))
        unconfirmed = bool(verdict.get("hasUnconfirmedComponents"))
        granular = verdict.get("validationGranularity", "OTHER")
        confidence = 0.95 if complete and not unconfirmed else 0.6 if complete else 0.3
        deliverable = {"SUB_PREMISE": 1.0, "PREMISE": 0.95, "PREMISE_PROXIMITY": 0.8}.get(
            granular, 0.4
        )
        suggestions = (standardized,) if standardized != address else ()
        return AddressValidation(
            is_valid=complete,
            standardized_address=standardized,
            suggestions=suggestions,
            confidence=confidence,
            deliverability_score=deliverable,
            source=self.name,
        )


@dataclass
class AddressValidationService:
    """Validate an address: built-in rules, then the provider (if any) with fallback."""

    provider: AddressProvider | None = None
    fallbacks: list[str] = field(default_factory=list)

    async def validate_address(
        self, address: Address, path: tuple[str | int, ...] = ("address",)
    ) -> AddressValidation:
        """Rules decide validity of shape; the provider refines. Never raises for input."""
        checked = check_address(address, path)
        if checked.errors:
            return AddressValidation(False, None, (), 0.0, 0.0, checked.errors)
        assert checked.standardized is not None
        rules_answer = AddressValidation(
            is_valid=True,
            standardized_address=checked.standardized,
            suggestions=(checked.standardized,) if checked.standardized != address else (),
            confidence=0.8,
            deliverability_score=0.7,  # shape is right; nobody checked the door exists
        )
        if self.provider is None or not self.provider.covers(checked.standardized.country):
            return rules_answer
        try:
            answer = await self.provider.validate(checked.standardized)
        except AddressProviderError as exc:
            log.warning("address provider failed; using built-in rules", extra={"error": str(exc)})
            self.fallbacks.append(str(exc))
            return rules_answer
        if not answer.is_valid:
            err = FieldError(
                (*path, "street1"),
                "address_undeliverable",
                "We could not confirm this address; please check it.",
            )
            return AddressValidation(
                False,
                answer.standardized_address,
                answer.suggestions,
                answer.confidence,
                answer.deliverability_score,
                (err,),
                answer.source,
            )
        return answer

    async def suggest_corrections(self, address: Address) -> tuple[Address, ...]:
        """The seed's suggestCorrections: standardised forms differing from the input."""
        return (await self.validate_address(address)).suggestions

    async def verify_deliverability(self, address: Address) -> float:
        """The seed's verifyDeliverability, as a 0..1 score."""
        return (await self.validate_address(address)).deliverability_score


def build_address_validation(s: Settings, clock: Clock) -> AddressValidationService:
    """The rules, plus the providers ``address_provider`` names whose keys are set."""
    chosen = s.address_provider.split(",")
    providers: list[AddressProvider] = []
    if "usps" in chosen and s.address_usps_client_id and s.address_usps_client_secret:
        from tillpoint.addresses.usps import USPSAddressValidation

        providers.append(
            USPSAddressValidation(
                client_id=s.address_usps_client_id,
                client_secret=s.address_usps_client_secret.get_secret_value(),
                clock_now=clock.now,
                endpoint=s.address_usps_endpoint,
                timeout=s.address_timeout_seconds,
            )
        )
    if "google" in chosen and s.address_google_api_key:
        providers.append(
            GoogleAddressValidation(
                api_key=s.address_google_api_key, timeout=s.address_timeout_seconds
            )
        )
    if not providers:
        return AddressValidationService()
    return AddressValidationService(
        providers[0] if len(providers) == 1 else ByCountry(tuple(providers))
    )
