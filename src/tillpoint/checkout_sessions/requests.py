"""What a shop's server sends to make a checkout session (``POST /api/v1/checkout-sessions``).

Shapes and bounds are checked here (422 with the field's path); what needs the database
or the settings (SKUs, stock, currency, quantity cap, redirect hosts) in the service."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tillpoint.config import MAX_LINE_QUANTITY

MAX_LINES = 100
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MIN_EXPIRES_IN = 1800
MAX_EXPIRES_IN = 86400


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class AdjustableQuantity(_Strict):
    enabled: bool = False
    minimum: Annotated[int, Field(ge=0, le=10_000)] = 1
    maximum: Annotated[int, Field(ge=1, le=10_000)] = 99

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.minimum > self.maximum:
            raise PydanticCustomError("bounds_reversed", "minimum must not exceed maximum.")
        return self


class PriceDataIn(_Strict):
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    unit_amount: Annotated[int, Field(gt=0, le=99_999_999, strict=True)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    tax_category: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,20}$")] = "standard"


class LineItemIn(_Strict):
    """Either ``sku`` (a product of tillpoint's catalog) or ``price_data`` (the shop's own)."""

    sku: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    price_data: PriceDataIn | None = None
    # The hard ceiling every cart has; the shop's own cart_max_line_quantity is checked later.
    quantity: Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY, strict=True)]
    adjustable_quantity: AdjustableQuantity | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.sku is None) == (self.price_data is None):
            raise PydanticCustomError(
                "sku_or_price_data", "Give exactly one of sku and price_data."
            )
        return self


class CheckoutSessionIn(_Strict):
    line_items: Annotated[list[LineItemIn], Field(min_length=1, max_length=MAX_LINES)]
    success_url: Annotated[str, Field(min_length=1, max_length=2000)]
    cancel_url: Annotated[str, Field(min_length=1, max_length=2000)]
    customer_email: Annotated[str | None, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] = (
        None
    )
    client_reference_id: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    metadata: dict[str, str] = Field(default_factory=dict)
    allow_coupons: bool = False
    expires_in: Annotated[int, Field(ge=MIN_EXPIRES_IN, le=MAX_EXPIRES_IN, strict=True)] = (
        MAX_EXPIRES_IN
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_METADATA_KEYS:
            raise PydanticCustomError(
                "metadata_too_many_keys", f"At most {MAX_METADATA_KEYS} metadata keys."
            )
        for key, item in value.items():
            if not 1 <= len(key) <= MAX_METADATA_KEY:
                raise PydanticCustomError(
                    "metadata_key_too_long",
                    f"Metadata keys are 1 to {MAX_METADATA_KEY} characters.",
                )
            if len(item) > MAX_METADATA_VALUE:
                raise PydanticCustomError(
                    "metadata_value_too_long",
                    f"Metadata values are at most {MAX_METADATA_VALUE} characters.",
                )
        return value
