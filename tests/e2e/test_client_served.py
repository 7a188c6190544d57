"""The sync client against tillpoint served by uvicorn on a loopback port (real sockets,
SQLite and PostgreSQL), as a Flask or Django shop's server calls it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tillpoint.api_keys.public import create_key
from tillpoint.client import (
    ConflictError,
    InvalidRequestError,
    PriceData,
    PriceDataLineItem,
    SkuLineItem,
    TillpointClient,
)

SHOP = "http://127.0.0.1:5001"
NOTE = PriceData(currency="USD", unit_amount=350, name="Gift note")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"allowed_redirect_hosts": "127.0.0.1:5001"}


def test_the_sync_client_over_http(live: LiveServer) -> None:
    key = live.call(lambda rt: create_key(rt, "shop", None)).secret
    with TillpointClient(live.url, key) as tp:
        made = tp.create_checkout_session(
            line_items=[
                SkuLineItem(sku="TEA-ASSAM", quantity=2),
                PriceDataLineItem(price_data=NOTE),
            ],
            success_url=f"{SHOP}/success?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{SHOP}/cart",
        )
        assert made.url == f"{live.url}/checkout/sessions/{made.id}"
        assert made.amount_total == 2 * 1490 + 350
        assert tp.get_checkout_session(made.id) == made
        assert tp.expire_checkout_session(made.id).status == "expired"
        with pytest.raises(ConflictError):
            tp.expire_checkout_session(made.id)
        with pytest.raises(InvalidRequestError) as refused:
            tp.create_checkout_session(
                line_items=[SkuLineItem(sku="TEA-ASSAM")],
                success_url="https://elsewhere.example/",
                cancel_url=f"{SHOP}/cart",
            )
        assert refused.value.code == "redirect_host_not_allowed"
