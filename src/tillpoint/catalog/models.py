"""Catalog tables: ``products`` and ``product_variants``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tillpoint.db import Base, JSONType, UTCDateTime


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(80), default="general", index=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    price: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    weight_grams: Mapped[int] = mapped_column(Integer, default=0)
    tax_category: Mapped[str] = mapped_column(String(20), default="standard")
    # The first of ``images``, kept for readers of the older single-image column.
    image_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    images: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True, default=list)
    compare_at_price: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )

    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product", order_by="ProductVariant.position", lazy="selectin"
    )


class ProductVariant(Base):
    __tablename__ = "product_variants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: product price
    weight_grams: Mapped[int | None] = mapped_column(Integer, nullable=True)
    compare_at_price: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attributes: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    product: Mapped[Product] = relationship(back_populates="variants", lazy="raise")


def images_of(product: Product) -> list[str]:
    """A product's image URLs: ``images``, else the older single ``image_url`` (rows written
    before ``images`` existed, or by hand)."""
    if product.images:
        return list(product.images)
    return [product.image_url] if product.image_url else []
