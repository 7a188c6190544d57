"""The shapes of customer input (the seed's Zod ``addressSchema`` and ``guestInfoSchema``).

Pydantic checks shape and length here (unknown fields refused); the rules that need
country data or number plans (postal codes, regions, phone numbers, e-mail syntax)
live in ``addresses/rules.py`` and report per-field codes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# The seed's ValidationRules.phone pattern; phonenumbers then checks the number itself.
PHONE_PATTERN = r"^\+?[\d\s\-\(\)]+$"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=7, max_length=20, pattern=PHONE_PATTERN),
]


class Address(BaseModel):
    """A postal address as the customer typed it; ``country`` is ISO 3166-1 alpha-2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_name: Name
    last_name: Name
    street1: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    street2: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    city: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    # Required only where the country has regions (US states, CA provinces, JP prefectures).
    state: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] = ""
    # Required only where the country uses postal codes; format checked per country.
    zip_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    country: Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{2}$")]
    phone: Phone | None = None


class GuestInfo(BaseModel):
    """Contact details of a guest buyer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
    first_name: Name
    last_name: Name
    phone: Phone | None = None
    marketing_consent: bool = Field(default=False, strict=True)
