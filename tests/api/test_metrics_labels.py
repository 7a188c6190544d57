"""``/metrics`` labels requests by route template, whether the router matched it or not."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.support import Api


async def test_requests_are_labelled_by_their_route_template(api: Api, rt: Any) -> None:
    p = await factories.product(rt)
    assert (await api.get(f"/api/products/{p.id}")).status_code == 200
    assert (await api.get("/api/no-such-thing")).status_code == 404
    text = (await api.get("/metrics")).text
    assert 'route="/api/products/{product_id}",status="200"' in text
    assert 'route="unmatched",status="404"' in text
    assert f"/api/products/{p.id}" not in text  # ids never become label values
