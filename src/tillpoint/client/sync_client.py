"""The synchronous client, on ``httpx.Client``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType

import httpx

from tillpoint.client import _http
from tillpoint.client.errors import APIConnectionError
from tillpoint.client.models import CheckoutSession, CheckoutSessionParams, LineItem


class TillpointClient:
    """Calls tillpoint's API with a secret key (``tp_sk_…``): on your server only.

    Connection failures, timeouts and 429/502/503/504 are retried ``max_retries`` times,
    each POST with the same Idempotency-Key; then the error is raised."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        self._api_key = api_key
        self._max_retries = max_retries
        self._backoff = retry_backoff
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    def create_checkout_session(
        self,
        *,
        line_items: Sequence[LineItem],
        success_url: str,
        cancel_url: str,
        customer_email: str | None = None,
        client_reference_id: str | None = None,
        metadata: dict[str, str] | None = None,
        allow_coupons: bool | None = None,
        expires_in: int | None = None,
        idempotency_key: str | None = None,
    ) -> CheckoutSession:
        """Create a session; send the shopper to its ``url``."""
        params = CheckoutSessionParams(
            line_items=list(line_items), success_url=success_url, cancel_url=cancel_url,
            customer_email=customer_email, client_reference_id=client_reference_id,
            metadata=metadata, allow_coupons=allow_coupons, expires_in=expires_in,
        )  # fmt: skip
        return self._send(_http.post(_http.SESSIONS, params, idempotency_key))

    def get_checkout_session(self, session_id: str) -> CheckoutSession:
        return self._send(_http.Call("GET", f"{_http.SESSIONS}/{_http.segment(session_id)}"))

    def expire_checkout_session(
        self, session_id: str, *, idempotency_key: str | None = None
    ) -> CheckoutSession:
        """End an open session now (409 :class:`ConflictError` if it is not open)."""
        path = f"{_http.SESSIONS}/{_http.segment(session_id)}/expire"
        return self._send(_http.post(path, None, idempotency_key))

    def _send(self, call: _http.Call) -> CheckoutSession:
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._http.request(
                    call.method, call.path, content=call.body, headers=call.headers(self._api_key)
                )
            except httpx.TransportError as exc:
                if attempt >= self._max_retries:
                    raise APIConnectionError(f"{type(exc).__name__}: {exc}") from exc
            else:
                if attempt >= self._max_retries or not _http.should_retry(response):
                    return _http.read(response, CheckoutSession)
            time.sleep(_http.retry_wait(attempt, response, self._backoff))
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TillpointClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
