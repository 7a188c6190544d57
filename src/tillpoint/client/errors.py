"""The client's errors: one class per kind of answer, each with the server's stable code,
message and field paths (``{"error": {"code", "message", "fields"}}``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field; ``path`` is like ``["line_items", 0, "sku"]``."""

    path: tuple[str | int, ...]
    code: str
    message: str


class TillpointError(Exception):
    """An answer that was not a success; ``status`` is None when no answer came."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        fields: tuple[FieldError, ...] = (),
    ) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


class InvalidRequestError(TillpointError):
    """400 or 422: a value was refused; ``fields`` says which."""


class AuthenticationError(TillpointError):
    """401: the API key is missing, unknown or revoked."""


class PermissionDeniedError(TillpointError):
    """403: the API key lacks the scope this call needs."""


class NotFoundError(TillpointError):
    """404: no such checkout session."""


class ConflictError(TillpointError):
    """409: the session's state forbids it, or an Idempotency-Key was reused with another
    body."""


class RateLimitError(TillpointError):
    """429, still refused after the client's retries."""


class APIError(TillpointError):
    """5xx (after the client's retries) or an answer the client cannot read."""


class APIConnectionError(TillpointError):
    """No answer: the connection failed or timed out (after the client's retries)."""

    def __init__(self, message: str) -> None:
        super().__init__(None, "api_connection_error", message)


_BY_STATUS: dict[int, type[TillpointError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_class(status: int) -> type[TillpointError]:
    """The class for an HTTP status (5xx and anything unexpected: :class:`APIError`)."""
    return _BY_STATUS.get(status, APIError)
