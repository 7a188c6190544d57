"""Coupon administration through the service functions the admin API and CLI use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tillpoint.audit.models import AuditLog
from tillpoint.errors import Conflict, InvalidInput, NotFound
from tillpoint.promotions import admin
from tillpoint.promotions.admin import CouponDraft
from tillpoint.promotions.codes import is_valid_code
from tillpoint.runtime import Runtime

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def draft(**kw: Any) -> CouponDraft:
    values: dict[str, Any] = {
        "code": "spring",
        "type": "percentage",
        "value": 1500,
        "start_date": START,
        "end_date": END,
    }
    values.update(kw)
    return CouponDraft(**values)


async def test_create_normalises_code_and_refuses_duplicates_in_any_case(rt: Runtime) -> None:
    c = await admin.create_coupon(rt, draft(code="  Spring-24 "))
    assert c.code == "SPRING-24" and c.usage_count == 0 and c.currency is None
    with pytest.raises(Conflict) as info:
        await admin.create_coupon(rt, draft(code="spring-24"))
    assert info.value.code == "coupon_code_taken"
    async with rt.db.transaction() as s:
        events = (
            await s.scalars(select(AuditLog.event_type).where(AuditLog.entity_id == c.id))
        ).all()
    assert events == ["coupon_created"]


@pytest.mark.parametrize(
    ("changes", "path", "code"),
    [
        ({"code": "has space"}, "code", "invalid_code"),
        ({"type": "bogus"}, "type", "invalid_type"),
        ({"value": 0}, "value", "value_out_of_range"),
        ({"value": 10001}, "value", "value_out_of_range"),
        ({"type": "fixed_amount", "value": 0}, "value", "value_out_of_range"),
        ({"type": "free_shipping", "value": 5}, "value", "value_out_of_range"),
        ({"type": "buy_x_get_y", "value": 10000}, "metadata", "invalid_deal"),
        ({"end_date": START}, "end_date", "end_before_start"),
        ({"start_date": datetime(2026, 1, 1)}, "start_date", "timezone_required"),
        ({"usage_limit": 0}, "usage_limit", "value_out_of_range"),
        ({"currency": "XXX"}, "currency", "unknown_currency"),
        (
            {"applicable_products": ("p1",), "excluded_products": ("p1",)},
            "excluded_products",
            "product_both_ways",
        ),
    ],
)
async def test_invalid_coupons_are_refused_with_field_paths(
    rt: Runtime, changes: dict[str, Any], path: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await admin.create_coupon(rt, draft(**changes))
    assert info.value.code == "invalid_coupon"
    assert (path, code) in [(f.path[0], f.code) for f in info.value.fields]


async def test_unknown_products_are_refused(rt: Runtime) -> None:
    p = await factories.product(rt)
    with pytest.raises(InvalidInput) as info:
        await admin.create_coupon(rt, draft(applicable_products=(p.id, "prod_missing")))
    assert [(f.path, f.code) for f in info.value.fields] == [
        (("applicable_products",), "product_not_found")
    ]
    ok = await admin.create_coupon(rt, draft(applicable_products=(p.id,)))
    assert ok.applicable_products == [p.id]


async def test_fixed_amount_takes_the_shop_currency(rt: Runtime) -> None:
    c = await admin.create_coupon(rt, draft(type="fixed_amount", value=500))
    assert c.currency == rt.settings.default_currency


async def test_buy_x_get_y_keeps_its_terms(rt: Runtime) -> None:
    a = await factories.product(rt)
    terms = {"buy_quantity": 2, "get_quantity": 1, "buy_products": [a.id], "get_products": [a.id]}
    c = await admin.create_coupon(rt, draft(type="buy_x_get_y", value=10000, metadata=terms))
    assert c.meta == terms


async def test_bulk_creates_unique_single_use_codes(rt: Runtime) -> None:
    coupons = await admin.create_coupon_batch(rt, draft(), count=300, prefix="vip")
    codes = [c.code for c in coupons]
    assert len(set(codes)) == 300
    assert all(is_valid_code(code) and code.startswith("VIP-") for code in codes)
    assert {(c.usage_limit, c.per_customer_limit) for c in coupons} == {(1, 1)}
    assert len({c.batch_id for c in coupons}) == 1
    page, cursor = await admin.list_coupons(rt, batch_id=coupons[0].batch_id, limit=200)
    assert len(page) == 200 and cursor is not None
    rest, end = await admin.list_coupons(rt, batch_id=coupons[0].batch_id, after=cursor, limit=200)
    assert len(rest) == 100 and end is None
    assert {c.id for c in page + rest} == {c.id for c in coupons}
    with pytest.raises(InvalidInput):
        await admin.create_coupon_batch(rt, draft(), count=0)


async def test_update_checks_the_whole_coupon_and_keeps_usage(rt: Runtime) -> None:
    c = await admin.create_coupon(rt, draft())
    other = await admin.create_coupon(rt, draft(code="OTHER"))
    updated = await admin.update_coupon(
        rt, c.id, {"value": 2000, "end_date": END + timedelta(days=1)}
    )
    assert (updated.value, updated.end_date, updated.code) == (
        2000,
        END + timedelta(days=1),
        "SPRING",
    )
    with pytest.raises(InvalidInput):
        await admin.update_coupon(rt, c.id, {"end_date": START - timedelta(days=1)})
    with pytest.raises(InvalidInput):
        await admin.update_coupon(rt, c.id, {"usage_count": 0})
    with pytest.raises(Conflict):
        await admin.update_coupon(rt, c.id, {"code": other.code.lower()})
    with pytest.raises(NotFound):
        await admin.update_coupon(rt, "cpn_" + "x" * 22, {"value": 1})


async def test_deactivate_and_list_by_state(rt: Runtime) -> None:
    a = await admin.create_coupon(rt, draft(code="A1"))
    b = await admin.create_coupon(rt, draft(code="B1"))
    off = await admin.deactivate_coupon(rt, a.id)
    assert off.is_active is False
    active, _ = await admin.list_coupons(rt, active=True)
    inactive, _ = await admin.list_coupons(rt, active=False)
    assert [c.id for c in active] == [b.id] and [c.id for c in inactive] == [a.id]
    async with rt.db.transaction() as s:
        events = (
            await s.scalars(select(AuditLog.event_type).where(AuditLog.entity_id == a.id))
        ).all()
    assert sorted(events) == ["coupon_created", "coupon_deactivated"]
