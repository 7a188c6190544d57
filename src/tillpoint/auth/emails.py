"""Email addresses as account keys: validated and normalised with email-validator."""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email

from tillpoint.errors import FieldError, InvalidInput


def normalize_email(raw: str, *, path: str = "email") -> str:
    """The canonical form we store and look up: email-validator's normalisation, then
    lower-cased whole (local parts are case-insensitive in practice, and one person must
    not get two accounts by capitalisation). 422 ``invalid_email`` if it is not an address."""
    try:
        valid = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            "This is not a valid email address.",
            code="invalid_email",
            fields=[FieldError((path,), "invalid_email", str(exc))],
        ) from exc
    return valid.normalized.lower()


def email_fingerprint(email: str) -> str:
    """A short stable digest of an address, for throttle keys and audit rows without PII."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
