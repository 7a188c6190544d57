"""The one gate every route's input passes before any handler or database sees it.

``create_app`` installs :func:`screen_request` as an app-wide dependency, so it runs
first on every route of every router, present and future: every query parameter, every
path parameter, the headers the route declares (``If-Match``, ``Idempotency-Key``, ...)
and the route's body at any depth are screened by :mod:`tillpoint.security.screen`.
Field paths follow our error shape: ``["address", "street1"]`` in a body,
``["query", "cursor"]``, ``["path", "product_id"]``, ``["header", "idempotency-key"]``.
Raw bodies a route reads itself (the signed webhooks) are not declared and not screened
here: Stripe's events are not customer input, and the inventory webhook screens its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant

from tillpoint.errors import FieldError, InvalidInput
from tillpoint.security.screen import leading_code, message_for, screen_text, screen_value


def _declared_headers(dependant: Dependant) -> set[str]:
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(str(field.alias).lower() for field in current.header_params)
        pending.extend(current.dependencies)
    return names


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _declared_body(request: Request, route: Any) -> Any:
    """The body the route declares, decoded as FastAPI decodes it (cached on the request),
    or None when the route takes none or FastAPI would not decode it."""
    if getattr(route, "body_field", None) is None:
        return None
    content_type = request.headers.get("content-type", "")
    if _is_json(content_type):
        return await request.json() if await request.body() else None
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        values = {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}
        return {key: texts[0] if len(texts) == 1 else texts for key, texts in values.items()}
    return None


def _single_line(found: list[FieldError], where: str, name: str, value: str) -> None:
    bad_name = screen_text(name, (where,), single_line=True)
    if bad_name is not None:
        found.append(bad_name)
        return
    problem = screen_text(value, (where, name), single_line=True)
    if problem is not None:
        found.append(problem)


async def screen_request(request: Request) -> None:
    """Refuse (422) any card number, control character or over-deep nesting in the
    request's input: ``card_data_not_accepted``, ``control_characters_not_allowed`` or
    ``nesting_too_deep``, each field with its path; the value is never echoed."""
    found: list[FieldError] = []
    for name, value in request.query_params.multi_items():
        _single_line(found, "query", name, value)
    for name, value in request.path_params.items():
        _single_line(found, "path", name, str(value))
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if isinstance(dependant, Dependant):
        for name in sorted(_declared_headers(dependant)):
            for value in request.headers.getlist(name):
                _single_line(found, "header", name, value)
    found += screen_value(await _declared_body(request, route))
    if found:
        code = leading_code(found)
        raise InvalidInput(message_for(code), code=code, fields=found)
