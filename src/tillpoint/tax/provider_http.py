"""The HTTP exchange shared by the AvaTax and TaxJar adapters: JSON with exact decimals
both ways, one timeout, and every failure turned into :class:`TaxProviderError`.

Request bodies carry ``Decimal`` amounts written as JSON numbers (``12.50``, never a
float's ``12.499999``); answers are parsed with ``parse_float=Decimal``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from tillpoint.tax.types import TaxProviderError


class ProviderHttpError(TaxProviderError):
    """The provider answered with an error status (``status``) and its own ``code``."""

    def __init__(self, provider: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{provider} {status} {code}: {message}"[:400])
        self.status, self.code = status, code


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("a float in a provider request: amounts are Decimal")
    return json.dumps(value)


def dumps(body: Any) -> bytes:
    """JSON with each ``Decimal`` written as the number it is."""
    return _encode(body).encode()


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


ErrorReader = Callable[[Any], tuple[str, str]]


async def exchange(
    provider: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: Any | None,
    time_limit: float,
    read_error: ErrorReader,
    transport: httpx.AsyncBaseTransport | None = None,
    auth: httpx.Auth | None = None,
) -> tuple[int, Any]:
    """Send one request; ``(status, parsed JSON)`` for a 2xx, else :class:`ProviderHttpError`
    (its ``code`` read from the provider's error body by ``read_error``), and
    :class:`TaxProviderError` for a timeout, a network failure or a body that is not JSON."""
    content = dumps(body) if body is not None else None
    sent = {"Accept": "application/json", **headers}
    if content is not None:
        sent["Content-Type"] = "application/json"
    try:
        async with httpx.AsyncClient(timeout=time_limit, transport=transport, auth=auth) as client:
            response = await client.request(method, url, content=content, headers=sent)
    except httpx.TimeoutException as exc:
        raise TaxProviderError(f"{provider} timed out after {time_limit}s") from exc
    except httpx.HTTPError as exc:
        raise TaxProviderError(f"{provider} unreachable: {type(exc).__name__}") from exc
    try:
        data = loads(response.content) if response.content else None
    except ValueError as exc:
        data = None
        if response.is_success:
            raise TaxProviderError(
                f"{provider} answered {response.status_code} without JSON"
            ) from exc
    if not response.is_success:
        code, message = read_error(data) if data is not None else ("", response.reason_phrase)
        raise ProviderHttpError(provider, response.status_code, code, message)
    return response.status_code, data
