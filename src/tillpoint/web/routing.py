"""Routing by typed paths, and the ``Allow`` header of a 405.

A route matches a URL only when its path parameters are valid (``/api/inventory/{product_id}``
takes ``prod_…`` ids, not ``reservations``), so a URL either reaches the one route that
owns it or, with a wrong method, answers 405; a malformed id is a 404 like an unknown
one. Every router uses :class:`TypedPathRoute` (a test walks the app to prove it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


def _path_fields(dependant: Dependant) -> list[Any]:
    fields: list[Any] = []
    pending = [dependant]
    while pending:
        current = pending.pop()
        fields.extend(current.path_params)
        pending.extend(current.dependencies)
    return fields


class TypedPathRoute(APIRoute):
    """An API route that matches only URLs whose path parameters validate."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.path_fields = _path_fields(self.dependant)

    def accepts(self, params: Mapping[str, Any]) -> bool:
        """True if every path parameter in ``params`` is valid for this route."""
        for field in self.path_fields:
            value = params.get(field.alias)
            if value is not None and field.validate(value, {}, loc=("path",))[1]:
                return False
        return True

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE and not self.accepts(child_scope.get("path_params", {})):
            return Match.NONE, {}
        return match, child_scope


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route answers at the request's path (the ``Allow`` of a 405)."""
    path, root = scope["path"], scope.get("root_path", "")
    path = path[len(root) :] if root and path.startswith(root) else path
    methods: set[str] = set()
    for context in iter_route_contexts(list(routes)):
        regex = getattr(context, "path_regex", None)
        found = regex.match(path) if regex is not None else None
        if found is None:
            continue
        convertors = getattr(context, "param_convertors", {})
        params = {k: convertors[k].convert(v) for k, v in found.groupdict().items()}
        route = context.original_route
        if isinstance(route, TypedPathRoute) and not route.accepts(params):
            continue
        methods.update(context.methods or ())
    return sorted(methods)
