"""What the schema states once for every operation, beyond each route's own declarations.

Every operation can also answer what the layers around it answer: 429 (rate limits) and
503 (admission control, an unreachable or busy database) anywhere; 422 (the input gate,
validation) when it takes input; 404 when a path id is malformed (typed routing); 400 and
413 (a body that is not JSON or too large) when it takes a body; 403 (CSRF) for a
state-changing method outside the signed webhooks. And every string it accepts carries
the pattern of what the input gate lets through (no control characters; single-line
outside bodies), so a client and a fuzzer know the rule the server applies.
"""

from __future__ import annotations

from typing import Any

from tillpoint.security.screen import LINE_PATTERN, TEXT_PATTERN
from tillpoint.web.middleware import CSRF_EXEMPT_PREFIXES, SAFE_METHODS

_WHY = {
    400: "The body is not JSON, or a header is malformed.",
    403: "The CSRF token is missing or invalid.",
    404: "Not found (or a malformed id in the path).",
    413: "The body is too large.",
    422: "Some input is invalid or refused (card data, control characters).",
    429: "Too many requests: see Retry-After.",
    503: "Unavailable for a moment: see Retry-After.",
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def link(method: str, path: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation at ``method path``, its parameters taken from the
    answer (``"$response.body#/id"``): what a client, or the fuzzer's stateful phase, can do
    next with what it got."""
    pointer = path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")
    return {"operationRef": f"#/paths/{pointer}/{method}", "parameters": parameters}


def _layer_statuses(method: str, path: str, op: dict[str, Any]) -> set[int]:
    params = op.get("parameters", [])
    statuses = {429, 503}
    if params or "requestBody" in op:
        statuses.add(422)
    if any(p["in"] == "path" for p in params):
        statuses.add(404)
    if "requestBody" in op:
        statuses |= {400, 413}
    if method.upper() not in SAFE_METHODS and not path.startswith(CSRF_EXEMPT_PREFIXES):
        statuses.add(403)
    return statuses


# Any JSON the gate lets through, for values typed "anything" (coupon metadata): no
# control characters in strings, single-line keys, at any depth.
_ANY_JSON = "ScreenedJson"
_ANY_JSON_REF = {"$ref": f"#/components/schemas/{_ANY_JSON}"}
_ANY_JSON_SCHEMA = {
    "description": "Any JSON value, without control characters in its strings or keys.",
    "anyOf": [
        {"type": "string", "pattern": TEXT_PATTERN},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": _ANY_JSON_REF},
        {
            "type": "object",
            "propertyNames": {"pattern": LINE_PATTERN},
            "additionalProperties": _ANY_JSON_REF,
        },
    ],
}


class _Strings:
    """Adds the gate's pattern to every free string of the schemas it walks (once each)."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components
        self.seen: set[str] = {_ANY_JSON}

    def walk(self, schema: Any, pattern: str) -> None:
        if not isinstance(schema, dict):
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in self.seen:
                self.seen.add(name)
                self.walk(self.components.get(name), TEXT_PATTERN)
            return
        kind = schema.get("type")
        if kind == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
            schema["pattern"] = pattern
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                self.walk(option, pattern)
        for sub in schema.get("properties", {}).values():
            self.walk(sub, pattern)
        for key in ("items", "additionalProperties"):
            if schema.get(key) is True or schema.get(key) == {}:
                schema[key] = dict(_ANY_JSON_REF)
                self.components.setdefault(_ANY_JSON, _ANY_JSON_SCHEMA)
            self.walk(schema.get(key), pattern)
        if kind == "object" and schema.get("additionalProperties") not in (None, False):
            schema.setdefault("propertyNames", {}).setdefault("pattern", LINE_PATTERN)


def document_layers(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the layers' statuses and the gate's string rule on every operation
    (idempotent: what is already stated is kept)."""
    strings = _Strings(spec.get("components", {}).get("schemas", {}))
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            responses = op.setdefault("responses", {})
            for status in sorted(_layer_statuses(method, path, op)):
                responses.setdefault(str(status), {"description": _WHY[status], "content": _ERROR})
            for param in op.get("parameters", []):
                strings.walk(param.get("schema"), LINE_PATTERN)
            for media in op.get("requestBody", {}).get("content", {}).values():
                strings.walk(media.get("schema"), TEXT_PATTERN)
    return spec
