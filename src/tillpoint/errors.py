"""One error hierarchy for the whole app. Each error carries a stable ``code``;
``web/errors.py`` maps the classes to HTTP statuses in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field; ``path`` is like ``["address", "zip_code"]``."""

    path: tuple[str | int, ...]
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "code": self.code, "message": self.message}


class TillpointError(Exception):
    """Base of every error we raise on purpose. ``code`` is stable and machine-readable."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: list[FieldError] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or []
        self.details = details or {}


class InvalidInput(TillpointError):
    """The request was well-formed but a value is not acceptable (422)."""

    code = "invalid_input"
    status = 422


class BadRequest(TillpointError):
    """The request itself is malformed (400)."""

    code = "bad_request"
    status = 400


class NotFound(TillpointError):
    """The thing does not exist, or is not the caller's to see (404)."""

    code = "not_found"
    status = 404


class Forbidden(TillpointError):
    code = "forbidden"
    status = 403


class Unauthorized(TillpointError):
    code = "unauthorized"
    status = 401


class Conflict(TillpointError):
    """The request conflicts with the current state (409)."""

    code = "conflict"
    status = 409


class PreconditionFailed(TillpointError):
    """``If-Match`` named a version that is no longer current (412)."""

    code = "version_mismatch"
    status = 412


class PayloadTooLarge(TillpointError):
    code = "payload_too_large"
    status = 413


class RateLimited(TillpointError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        # Every 429 says when to try again in its body too, not only in Retry-After.
        self.details = {**self.details, "retry_after": retry_after}


class ServiceUnavailable(TillpointError):
    """A dependency we need is down; safe to retry later (503)."""

    code = "service_unavailable"
    status = 503
