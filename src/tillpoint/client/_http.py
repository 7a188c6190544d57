"""What the sync and async clients share: the request each call makes, when to retry, and
how an answer becomes a model or an error. Only the sending differs between them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from tillpoint.client.errors import APIError, FieldError, TillpointError, error_class

VERSION = "0.1.0"
USER_AGENT = f"tillpoint-python/{VERSION}"
# Answers worth another try with the same Idempotency-Key: rate limited or the server (or
# a proxy in front of it) briefly unable to answer.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT = 20.0
SESSIONS = "/api/v1/checkout-sessions"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call: sent as is at every attempt (a POST keeps its Idempotency-Key)."""

    method: str
    path: str
    body: bytes | None = None
    idempotency_key: str | None = None

    def headers(self, api_key: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        return headers


def post(path: str, payload: BaseModel | None, idempotency_key: str | None) -> Call:
    """A POST with a JSON body (None fields left out) and an Idempotency-Key (a fresh
    uuid4 unless given), so a retry after a lost answer cannot act twice."""
    body = b"{}" if payload is None else payload.model_dump_json(exclude_none=True).encode()
    return Call("POST", path, body, idempotency_key or str(uuid.uuid4()))


def retry_wait(attempt: int, response: httpx.Response | None, backoff: float) -> float:
    """Seconds before attempt ``attempt + 1``: ``Retry-After`` when the server said it,
    else ``backoff`` doubled per attempt; at most 20 s."""
    if response is not None:
        after = str(response.headers.get("Retry-After", ""))
        if after.isdigit():
            return min(MAX_RETRY_WAIT, float(after))
    return min(MAX_RETRY_WAIT, backoff * float(2**attempt))


def should_retry(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def read(response: httpx.Response, model: type[M]) -> M:
    """The answer's model, or the error it carries raised."""
    if response.is_success:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise APIError(response.status_code, "unreadable_answer", str(exc)) from exc
    raise error_of(response)


def error_of(response: httpx.Response) -> TillpointError:
    """``{"error": {"code", "message", "fields"}}`` as the class for its status."""
    status = response.status_code
    cls = error_class(status)
    try:
        error = json.loads(response.content)["error"]
        fields = tuple(
            FieldError(tuple(f.get("path", ())), str(f.get("code", "")), str(f.get("message", "")))
            for f in error.get("fields") or ()
        )
        return cls(status, str(error["code"]), str(error.get("message", "")), fields)
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text[:200] or response.reason_phrase
        return cls(status, f"http_{status}", text)


def segment(session_id: str) -> str:
    """An id as one path segment (an id with a ``/`` cannot reach another route)."""
    if not session_id:
        raise ValueError("a checkout session id is required")
    return quote(session_id, safe="")
