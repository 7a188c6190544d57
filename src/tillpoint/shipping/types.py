"""What shipping is asked and what it offers (pure value types)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ShippingRequest:
    """A parcel to price: destination, weight and the goods' value (minor units)."""

    currency: str
    country: str
    region: str
    postal_code: str
    weight_grams: int
    subtotal: int


@dataclass(frozen=True, slots=True)
class DeliveryEstimate:
    earliest: date
    latest: date

    def as_dict(self) -> dict[str, str]:
        return {"earliest": self.earliest.isoformat(), "latest": self.latest.isoformat()}


@dataclass(frozen=True, slots=True)
class ShippingOption:
    """The seed's ``ShippingOption`` plus its delivery window and price source."""

    id: str
    name: str
    description: str
    cost: int
    currency: str
    estimated_days: int
    carrier: str
    service_type: str
    tracking_available: bool
    estimate: DeliveryEstimate | None = None
    source: str = "table"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["estimate"] = self.estimate.as_dict() if self.estimate else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShippingOption:
        est = data.get("estimate")
        return cls(
            **{k: v for k, v in data.items() if k != "estimate"},
            estimate=(
                DeliveryEstimate(
                    date.fromisoformat(est["earliest"]), date.fromisoformat(est["latest"])
                )
                if est
                else None
            ),
        )


class CarrierError(Exception):
    """A carrier could not quote (network, status, timeout, unreadable answer)."""


class CarrierProvider(Protocol):
    """A live carrier rate source (UPS, FedEx). Options carry ids like ``ups:03``."""

    name: str

    async def rates(self, request: ShippingRequest) -> list[ShippingOption]: ...
