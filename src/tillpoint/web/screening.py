"""The one gate every route's input passes before any handler or database sees it.

``create_app`` installs :func:`screen_request` as an app-wide dependency, so it runs
first on every route of every router, present and future: the path, query, header and
cookie parameters the route declares (``cursor``, ``If-Match``, ``Idempotency-Key``, ...) and
the route's body at any depth are screened by :mod:`tillpoint.security.screen`.
Field paths follow our error shape: ``["address", "street1"]`` in a body,
``["query", "cursor"]``, ``["path", "product_id"]``, ``["header", "Idempotency-Key"]``
(a header named as the route declares it, as FastAPI's own validation errors name it).
Raw bodies a route reads itself (the signed webhooks) are not declared and not screened
here: Stripe's events are not customer input, and the inventory webhook screens its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.requests import HTTPConnection

from tillpoint.errors import FieldError, InvalidInput
from tillpoint.security.screen import leading_code, message_for, screen_text, screen_value

# Marks a query or header parameter whose value is one of our own opaque tokens or cursors
# (compared, never stored): screened for control characters but not for card numbers,
# since a token or cursor of ours may hold a Luhn-valid digit run by chance.
OPAQUE_TOKEN: dict[str, Any] = {"x-opaque-token": True}

Param = tuple[str, str, bool]  # location, name as sent, opaque


def _is_opaque(field: Any) -> bool:
    extra = getattr(field.field_info, "json_schema_extra", None)
    return isinstance(extra, dict) and bool(extra.get("x-opaque-token"))


def _declared_params(dependant: Dependant) -> list[Param]:
    """The path, query, header and cookie parameters the route and its dependencies declare."""
    params: list[Param] = []
    pending = [dependant]
    while pending:
        current = pending.pop()
        for where, fields in (
            ("path", current.path_params),
            ("query", current.query_params),
            ("header", current.header_params),
            ("cookie", current.cookie_params),
        ):
            for field in fields:
                params.append((where, str(field.alias), _is_opaque(field)))
        pending.extend(current.dependencies)
    return params


def _values(request: HTTPConnection, where: str, name: str) -> list[str]:
    if where == "query":
        return request.query_params.getlist(name)
    if where == "header":
        return request.headers.getlist(name)
    if where == "cookie":
        return [request.cookies[name]] if name in request.cookies else []
    value = request.path_params.get(name)
    return [] if value is None else [str(value)]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _declared_body(request: HTTPConnection, route: Any) -> Any:
    """The body the route declares, decoded as FastAPI decodes it (cached on the request),
    or None when the route takes none (a WebSocket never does) or FastAPI would not decode it."""
    if getattr(route, "body_field", None) is None or not isinstance(request, Request):
        return None
    content_type = request.headers.get("content-type", "")
    if _is_json(content_type):
        return await request.json() if await request.body() else None
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        values = {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}
        return {key: texts[0] if len(texts) == 1 else texts for key, texts in values.items()}
    return None


def _screen_param(request: HTTPConnection, param: Param) -> FieldError | None:
    where, name, opaque = param
    for value in _values(request, where, name):
        problem = screen_text(value, (where, name), single_line=True, card_data=not opaque)
        if problem is not None:
            return problem
    return None


async def screen_request(request: HTTPConnection) -> None:
    """Refuse (422) any card number, control character or over-deep nesting in the
    request's input: ``card_data_not_accepted``, ``control_characters_not_allowed`` or
    ``nesting_too_deep``, each field with its path; the value is never echoed. WebSocket
    routes pass here too (their parameters; their messages are screened by the route)."""
    found: list[FieldError] = []
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if isinstance(dependant, Dependant):
        for param in _declared_params(dependant):
            problem = _screen_param(request, param)
            if problem is not None:
                found.append(problem)
    found += screen_value(await _declared_body(request, route))
    if found:
        code = leading_code(found)
        raise InvalidInput(message_for(code), code=code, fields=found)
