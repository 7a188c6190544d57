"""The one place errors become HTTP answers: ``{"error": {code, message, fields}}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from tillpoint.errors import RateLimited, TillpointError
from tillpoint.security.scrub import scrub, scrub_text
from tillpoint.web.routing import allowed_methods

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_json(
    status: int,
    code: str,
    message: str,
    *,
    fields: list[dict[str, Any]] | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    # Scrubbed on the way out: an error never echoes a card number or a secret back.
    body: dict[str, Any] = {"code": code, "message": scrub_text(message), "fields": fields or []}
    for field in body["fields"]:
        field["message"] = scrub_text(str(field.get("message", "")))
    if details:
        body["details"] = scrub(details)
    return JSONResponse({"error": jsonable_encoder(body)}, status, headers)


def _validation_fields(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    fields = []
    code = "invalid_request"
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if p != "body"]
        kind = str(err.get("type", "invalid"))
        if kind == "json_invalid":
            code = "malformed_json"
        fields.append({"path": loc, "code": kind, "message": str(err.get("msg", "invalid"))})
    return code, fields


def database_unreachable(exc: DBAPIError) -> bool:
    """The connection died or the database refuses connections for now: a 503 to retry.

    The unit of work was rolled back, except in the rare case of a connection lost
    during COMMIT itself; carts and checkouts carry a version for a safe retry.
    """
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    # 57P01-03: admin/crash shutdown, cannot connect now; 53300: too many connections.
    if code in {"57P01", "57P02", "57P03", "53300"}:
        return True
    text = str(orig or exc).lower()
    return (
        "connection was closed" in text
        or "connection is closed" in text
        or "database is locked" in text
    )


async def _tillpoint(_req: Request, exc: TillpointError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if exc.code == "invalid_api_key":  # RFC 6750: say which scheme to use
        headers = {"WWW-Authenticate": 'Bearer realm="tillpoint"'}
    return error_json(
        exc.status,
        exc.code,
        exc.message,
        fields=[f.as_dict() for f in exc.fields],
        details=exc.details,
        headers=headers,
    )


async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
    code, fields = _validation_fields(exc)
    status = 400 if code == "malformed_json" else 422
    message = "The request body is not valid JSON." if status == 400 else "Some fields are invalid."
    return error_json(status, code, message, fields=fields)


async def _http(req: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # the route that answered knows only its own methods
        headers["Allow"] = ", ".join(allowed_methods(req.app.routes, req.scope))
    return error_json(exc.status_code, code, message, headers=headers)


async def _database(req: Request, exc: DBAPIError) -> JSONResponse:
    if not database_unreachable(exc):
        return await _unexpected(req, exc)
    log.warning("database unavailable", extra={"path": req.url.path, "error": str(exc.orig)})
    return error_json(
        503,
        "database_unavailable",
        "The database was briefly unavailable. Please retry.",
        headers={"Retry-After": "1"},
    )


async def _pool_exhausted(req: Request, exc: PoolTimeout) -> JSONResponse:
    # Every pooled connection stayed busy for the pool's whole timeout (a surge such as
    # 1,000 shoppers racing for one product): a retryable 503, not a 500.
    log.warning("database connection pool exhausted", extra={"path": req.url.path})
    return error_json(
        503,
        "database_busy",
        "The shop is very busy right now. Please retry in a moment.",
        headers={"Retry-After": "2"},
    )


async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": req.url.path})
    return error_json(500, "internal_error", "Something went wrong on our side.")


# The exception each handler takes is its row's type (Any: the table mixes them).
ExceptionHandler = Callable[[Request, Any], Awaitable[JSONResponse]]

# Each failure type -> its handler; Starlette picks the most specific type, whatever the order.
_HANDLERS: tuple[tuple[type[Exception], ExceptionHandler], ...] = (
    (TillpointError, _tillpoint),
    (RequestValidationError, _validation),
    (StarletteHTTPException, _http),
    (DBAPIError, _database),
    (PoolTimeout, _pool_exhausted),
    (Exception, _unexpected),
)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into our error body."""
    for exc_type, handler in _HANDLERS:
        app.exception_handler(exc_type)(handler)
