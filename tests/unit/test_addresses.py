from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tillpoint.addresses.rules import check_address, check_guest_info, country_codes
from tillpoint.addresses.schemas import Address, GuestInfo


def addr(**kw: Any) -> Address:
    base = {"first_name": "Ada", "last_name": "Lovelace", "street1": "1 Main St", "city": "X"}
    return Address.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("fields", "state", "zip_code"),
    [
        (
            {"country": "US", "state": "california", "zip_code": "94043", "city": "Mountain View"},
            "CA",
            "94043",
        ),
        (
            {"country": "US", "state": "NY", "zip_code": "10001-1234", "city": "New York"},
            "NY",
            "10001-1234",
        ),
        ({"country": "DE", "zip_code": "10117", "city": "Berlin"}, "", "10117"),
        ({"country": "GB", "zip_code": "sw1a1aa", "city": "London"}, "", "SW1A 1AA"),
        (
            {"country": "JP", "state": "Tokyo", "zip_code": "100-8111", "city": "Chiyoda-ku"},
            "Tokyo",
            "100-8111",
        ),
        (
            {"country": "CA", "state": "Ontario", "zip_code": "m5v 3l9", "city": "Toronto"},
            "ON",
            "M5V 3L9",
        ),
        ({"country": "FR", "zip_code": "75008", "city": "Paris"}, "", "75008"),
        ({"country": "au", "state": "NSW", "zip_code": "2000", "city": "Sydney"}, "NSW", "2000"),
    ],
)
def test_addresses_of_many_countries_validate_and_standardise(
    fields: dict[str, str], state: str, zip_code: str
) -> None:
    check = check_address(addr(**fields))
    assert check.errors == ()
    assert check.standardized is not None
    assert check.standardized.state == state
    assert check.standardized.zip_code == zip_code
    assert check.standardized.city == fields["city"]  # customer's spelling kept


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        ({"country": "US", "state": "CA", "zip_code": "9404"}, "zip_code", "postal_code_invalid"),
        (
            {"country": "US", "state": "CA", "zip_code": "94043 1234"},
            "zip_code",
            "postal_code_invalid",
        ),
        ({"country": "US", "state": "ZZ", "zip_code": "94043"}, "state", "region_invalid"),
        ({"country": "US", "zip_code": "94043"}, "state", "required"),
        ({"country": "US", "state": "CA"}, "zip_code", "required"),
        ({"country": "DE", "zip_code": "1011"}, "zip_code", "postal_code_invalid"),
        ({"country": "GB", "zip_code": "12345"}, "zip_code", "postal_code_invalid"),
        ({"country": "CA", "state": "ON", "zip_code": "12345"}, "zip_code", "postal_code_invalid"),
        ({"country": "JP", "zip_code": "100-8111"}, "state", "required"),
        ({"country": "XX", "zip_code": "1"}, "country", "country_invalid"),
        ({"country": "DE", "zip_code": "10117", "phone": "+49 123"}, "phone", "phone_invalid"),
    ],
)
def test_invalid_addresses_name_the_field(fields: dict[str, str], path: str, code: str) -> None:
    check = check_address(addr(**fields))
    assert check.standardized is None
    assert (("address", path), code) in {(e.path, e.code) for e in check.errors}


@pytest.mark.parametrize(
    ("fields", "belongs_to"),
    [
        (
            {"country": "US", "state": "NY", "city": "New York", "zip_code": "90210"},
            "California (CA)",
        ),
        (
            {"country": "US", "state": "CA", "city": "Miami", "zip_code": "33101-1234"},
            "Florida (FL)",
        ),
        (
            {"country": "CA", "state": "QC", "city": "Toronto", "zip_code": "M5V 3L9"},
            "Ontario (ON)",
        ),
    ],
)
def test_a_well_formed_postal_code_of_another_region_says_which(
    fields: dict[str, str], belongs_to: str
) -> None:
    check = check_address(addr(**fields))
    assert check.standardized is None
    [error] = check.errors
    assert error.path == ("address", "zip_code") and error.code == "postal_code_region_mismatch"
    assert belongs_to in error.message and f"not {fields['state']}" in error.message


def test_a_malformed_postal_code_is_not_placed_in_any_region() -> None:
    [error] = check_address(addr(country="US", state="NY", zip_code="902101")).errors
    assert error.code == "postal_code_invalid" and "belongs to" not in error.message


def test_phone_on_an_address_is_parsed_for_its_country() -> None:
    check = check_address(addr(country="DE", zip_code="10117", phone="030 1234567"))
    assert check.standardized is not None and check.standardized.phone == "+49301234567"


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"first_name": ""}, ("first_name",), "string_too_short"),
        ({"first_name": "x" * 51}, ("first_name",), "string_too_long"),
        ({"street1": "x" * 201}, ("street1",), "string_too_long"),
        ({"city": "x" * 101}, ("city",), "string_too_long"),
        ({"state": "x" * 51}, ("state",), "string_too_long"),
        ({"country": "USA"}, ("country",), "string_pattern_mismatch"),
        ({"phone": "call me"}, ("phone",), "string_pattern_mismatch"),
        ({"unknown": 1}, ("unknown",), "extra_forbidden"),
    ],
)
def test_address_shape_errors(fields: dict[str, Any], loc: tuple[str, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        addr(**{"country": "US", **fields})
    assert (loc, kind) in {(e["loc"], e["type"]) for e in info.value.errors()}


def test_guest_info_email_and_phone() -> None:
    ok, errors = check_guest_info(
        GuestInfo(email="Ada@Example.COM", first_name="Ada", last_name="L", phone="(212) 555-0100"),
        "US",
    )
    assert errors == () and ok.email == "Ada@example.com" and ok.phone == "+12125550100"
    assert ok.marketing_consent is False
    _, errors = check_guest_info(
        GuestInfo(email="not-an-email", first_name="A", last_name="B", phone="+1 555 0000"), "US"
    )
    assert {(e.path, e.code) for e in errors} == {
        (("email",), "email_invalid"),
        (("phone",), "phone_invalid"),
    }


def test_iso_country_codes_come_from_the_library() -> None:
    codes = country_codes()
    assert {"US", "DE", "GB", "JP", "CA", "FR", "AU"} <= codes
    assert "ZZ" not in codes and len(codes) > 200
