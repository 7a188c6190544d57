"""The shapes of customer input (the seed's Zod ``addressSchema`` and ``guestInfoSchema``).

Pydantic checks shape and length here (unknown fields refused); the rules that need
country data or number plans (postal codes, regions, phone numbers, e-mail syntax)
live in ``addresses/rules.py`` and report per-field codes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from tillpoint.security.scrub import CONTROL_OR_BREAK_CLASS

# The seed's ValidationRules.phone pattern (ASCII digits and spaces: ``\d`` and ``\s``
# also match other scripts' digits and control characters); phonenumbers then checks it.
PHONE_PATTERN = r"^\+?[0-9 \-\(\)]+$"
# What a one-line field accepts as typed, in the schema: whitespace around it is stripped,
# the text between may not break lines or hold control characters (the input gate), and a
# required one needs a visible character.
_EDGE = r"[ \t\n\r\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_VISIBLE = rf"[^{CONTROL_OR_BREAK_CLASS} \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
ONE_LINE_PATTERN = rf"^{_EDGE}*[^{CONTROL_OR_BREAK_CLASS}]*{_EDGE}*$"
NON_BLANK_LINE_PATTERN = rf"^{_EDGE}*{_VISIBLE}[^{CONTROL_OR_BREAK_CLASS}]*{_EDGE}*$"


def _one_line(value: str) -> str:
    # Names and address lines end up on labels and in e-mail headers: one line each.
    if any(c in value for c in "\t\n\r"):
        raise PydanticCustomError(
            "line_break_not_allowed", "One line only: no line breaks or tabs."
        )
    return value


# The check with its own code, and the same rule stated in the schema for clients.
OneLine = AfterValidator(_one_line)
OneLineInSchema = Field(json_schema_extra={"pattern": ONE_LINE_PATTERN})
NonBlankInSchema = Field(json_schema_extra={"pattern": NON_BLANK_LINE_PATTERN})


def _text(min_length: int, max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Name = Annotated[str, _text(1, 50), OneLine, NonBlankInSchema]
Street = Annotated[str, _text(1, 200), OneLine, NonBlankInSchema]
Street2 = Annotated[str, _text(0, 200), OneLine, OneLineInSchema]
City = Annotated[str, _text(1, 100), OneLine, NonBlankInSchema]
Region = Annotated[str, _text(0, 50), OneLine, OneLineInSchema]
PostalCode = Annotated[str, _text(0, 20), OneLine, OneLineInSchema]
# At least one visible character; e-mail syntax is the rules' (422 email_invalid).
Email = Annotated[str, _text(1, 320), OneLine, NonBlankInSchema]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=7, max_length=20, pattern=PHONE_PATTERN),
]


class Address(BaseModel):
    """A postal address as the customer typed it; ``country`` is ISO 3166-1 alpha-2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_name: Name
    last_name: Name
    street1: Street
    street2: Street2 | None = None
    city: City
    # Required only where the country has regions (US states, CA provinces, JP prefectures).
    state: Region = ""
    # Required only where the country uses postal codes; format checked per country.
    zip_code: PostalCode = ""
    country: Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{2}$")]
    phone: Phone | None = None


class GuestInfo(BaseModel):
    """Contact details of a guest buyer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email
    first_name: Name
    last_name: Name
    phone: Phone | None = None
    marketing_consent: bool = Field(default=False, strict=True)
