"""What a cart looks like to its owner: lines checked against today's catalog, and totals.

Built from stored rows plus one catalog read. Prices stay as snapshotted on the
line; a catalog price that moved since is *reported* (``price_changed``), never
applied behind the customer's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tillpoint.catalog.public import Sellable

if TYPE_CHECKING:
    from tillpoint.inventory.public import StockStatus


@dataclass(frozen=True, slots=True)
class LineSnapshot:
    """A stored cart line, as cached and as read from the database."""

    id: str
    product_id: str
    variant_id: str | None
    quantity: int
    unit_price: int
    currency: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CouponSnapshot:
    id: str
    coupon_id: str
    discount_amount: int
    code: str = ""


@dataclass(frozen=True, slots=True)
class CartSnapshot:
    """The stored cart: what the Redis cache holds under ``cart:<id>``."""

    id: str
    version: int
    currency: str
    status: str
    user_id: str | None
    session_id: str | None
    expires_at: datetime
    items: tuple[LineSnapshot, ...]
    coupons: tuple[CouponSnapshot, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CartSnapshot:
        return cls(
            id=data["id"],
            version=data["version"],
            currency=data["currency"],
            status=data["status"],
            user_id=data["user_id"],
            session_id=data["session_id"],
            expires_at=datetime.fromisoformat(data["expires_at"]),
            items=tuple(LineSnapshot(**i) for i in data["items"]),
            coupons=tuple(CouponSnapshot(**c) for c in data["coupons"]),
        )


@dataclass(frozen=True, slots=True)
class LineView:
    id: str
    product_id: str
    variant_id: str | None
    sku: str | None
    name: str | None
    quantity: int
    unit_price: int
    line_total: int
    current_unit_price: int | None
    price_changed: bool
    available: bool
    metadata: dict[str, Any]
    in_stock: bool = True
    available_quantity: int | None = None  # None: stock not tracked


@dataclass(frozen=True, slots=True)
class CartView:
    id: str
    version: int
    currency: str
    status: str
    expires_at: datetime
    items: list[LineView]
    coupons: list[CouponSnapshot]
    subtotal: int
    discount: int
    notices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return max(self.subtotal - self.discount, 0)

    @property
    def item_count(self) -> int:
        return sum(i.quantity for i in self.items)


def build_view(
    snap: CartSnapshot,
    sellables: dict[tuple[str, str | None], Sellable],
    stock: Mapping[tuple[str, str | None], StockStatus] | None = None,
) -> CartView:
    """Combine stored lines with the catalog and the stock as they are now."""
    lines: list[LineView] = []
    notices: list[dict[str, Any]] = []
    for item in snap.items:
        sellable = sellables.get((item.product_id, item.variant_id))
        current = sellable.unit_price if sellable else None
        available = bool(sellable and sellable.active)
        changed = current is not None and current != item.unit_price
        if changed:
            notices.append(
                {
                    "code": "price_changed",
                    "item_id": item.id,
                    "old_unit_price": item.unit_price,
                    "new_unit_price": current,
                }
            )
        if not available:
            notices.append({"code": "item_unavailable", "item_id": item.id})
        level = (stock or {}).get((item.product_id, item.variant_id))
        in_stock = level is None or level.in_stock
        if not in_stock and level is not None:
            notices.append(
                {
                    "code": "out_of_stock",
                    "item_id": item.id,
                    "requested": level.requested,
                    "available": level.available,
                }
            )
        lines.append(
            LineView(
                id=item.id,
                product_id=item.product_id,
                variant_id=item.variant_id,
                sku=sellable.sku if sellable else None,
                name=sellable.name if sellable else None,
                quantity=item.quantity,
                unit_price=item.unit_price,
                line_total=item.unit_price * item.quantity,
                current_unit_price=current,
                price_changed=changed,
                available=available,
                metadata=item.metadata,
                in_stock=in_stock,
                available_quantity=level.available if level is not None else None,
            )
        )
    return CartView(
        id=snap.id,
        version=snap.version,
        currency=snap.currency,
        status=snap.status,
        expires_at=snap.expires_at,
        items=lines,
        coupons=list(snap.coupons),
        subtotal=sum(line.line_total for line in lines),
        discount=sum(c.discount_amount for c in snap.coupons),
        notices=notices,
    )


def cart_to_dict(view: CartView) -> dict[str, Any]:
    """The public JSON shape of a cart (DESIGN.md section 4)."""
    return {
        "id": view.id,
        "version": view.version,
        "currency": view.currency,
        "status": view.status,
        "expires_at": view.expires_at.isoformat(),
        "items": [_line_to_dict(i) for i in view.items],
        "coupons": [
            {
                "id": c.id,
                "coupon_id": c.coupon_id,
                "discount_amount": c.discount_amount,
                "code": c.code,
            }
            for c in view.coupons
        ],
        "totals": {
            "subtotal": view.subtotal,
            "discount": view.discount,
            "total": view.total,
            "item_count": view.item_count,
        },
        "notices": view.notices,
    }


def _line_to_dict(line: LineView) -> dict[str, Any]:
    # Spelled out: dataclasses.asdict deep-copies field by field, on every cart answer.
    return {
        "id": line.id,
        "product_id": line.product_id,
        "variant_id": line.variant_id,
        "sku": line.sku,
        "name": line.name,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "line_total": line.line_total,
        "current_unit_price": line.current_unit_price,
        "price_changed": line.price_changed,
        "available": line.available,
        "metadata": dict(line.metadata),
        "in_stock": line.in_stock,
        "available_quantity": line.available_quantity,
    }
