from __future__ import annotations

from typing import Any

from tests import factories
from tests.support import Api, error_code


async def test_products_are_paged_and_only_active(api: Api, rt: Any) -> None:
    catalog = await factories.demo_catalog(rt)
    await factories.product(rt, active=False)
    seen: list[str] = []
    cursor = None
    while True:
        r = await api.get(
            "/api/products", params={"limit": 5, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200
        page = r.json()
        seen += [p["sku"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(catalog)
    shirt = catalog["TSHIRT-ORG"]
    one = (await api.get(f"/api/products/{shirt.id}")).json()
    assert [v["sku"] for v in one["variants"]] == [f"TSHIRT-ORG-{s}" for s in ["S", "M", "L", "XL"]]


async def test_unknown_product_is_404(api: Api) -> None:
    r = await api.get("/api/products/prod_" + "Z" * 22)
    assert r.status_code == 404 and error_code(r) == "product_not_found"
    r = await api.get("/api/products?limit=1000")
    assert r.status_code == 422 and error_code(r) == "invalid_request"


async def test_demo_seed_is_idempotent(rt: Any) -> None:
    from tillpoint.catalog.demo import seed_demo_catalog

    assert await seed_demo_catalog(rt) == 12
    assert await seed_demo_catalog(rt) == 0


async def test_health_ready_metrics_and_unknown_route(api: Api) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    metrics = await api.get("/metrics")
    assert "tillpoint_requests_total" in metrics.text
    r = await api.get("/api/nowhere")
    assert r.status_code == 404 and error_code(r) == "not_found"


async def test_openapi_declares_error_schemas(api: Api) -> None:
    spec = (await api.get("/openapi.json")).json()
    add = spec["paths"]["/api/cart/items"]["post"]
    assert {"412", "422", "404"} <= set(add["responses"])
    assert "ErrorBody" in spec["components"]["schemas"]
