"""A signed-in user's saved addresses: list, add, delete.

Each address is checked by the same rules as the checkout's (``addresses/rules.py``) and
stored standardised. An address belongs to one user: another user's id answers the same
404 as an id that never existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from tillpoint.addresses.public import Address, check_address
from tillpoint.auth.models import SavedAddress
from tillpoint.errors import Conflict, InvalidInput, NotFound
from tillpoint.ids import is_valid_id, new_id
from tillpoint.runtime import Runtime

# Enough for home, work and a few people one sends gifts to; bounds the table per user.
MAX_SAVED_ADDRESSES = 20


@dataclass(frozen=True, slots=True)
class SavedAddressInfo:
    id: str
    address: Address
    created_at: datetime


def _info(row: SavedAddress) -> SavedAddressInfo:
    return SavedAddressInfo(
        id=row.id, address=Address.model_validate(row.address), created_at=row.created_at
    )


async def list_addresses(rt: Runtime, user_id: str) -> list[SavedAddressInfo]:
    """The user's saved addresses, newest first."""
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(SavedAddress)
            .where(SavedAddress.user_id == user_id)
            .order_by(SavedAddress.created_at.desc(), SavedAddress.id.desc())
        )
        return [_info(row) for row in rows]


async def add_address(rt: Runtime, user_id: str, address: Address) -> SavedAddressInfo:
    """Save a checked, standardised copy of ``address``. 422 with per-field codes if the
    country's rules refuse it; 409 ``address_book_full`` past :data:`MAX_SAVED_ADDRESSES`."""
    checked = check_address(address)
    if checked.standardized is None:
        raise InvalidInput(
            "Please check the address.", code="invalid_address", fields=list(checked.errors)
        )
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        count = await s.scalar(
            select(func.count()).select_from(SavedAddress).where(SavedAddress.user_id == user_id)
        )
        if (count or 0) >= MAX_SAVED_ADDRESSES:
            raise Conflict(
                f"You can save up to {MAX_SAVED_ADDRESSES} addresses; delete one first.",
                code="address_book_full",
            )
        row = SavedAddress(
            id=new_id("adr"),
            user_id=user_id,
            address=checked.standardized.model_dump(mode="json"),
            created_at=now,
        )
        s.add(row)
        await s.flush()
        return _info(row)


async def delete_address(rt: Runtime, user_id: str, address_id: str) -> None:
    """Delete one of the user's addresses; 404 ``address_not_found`` if it is not theirs."""
    if not is_valid_id(address_id, "adr"):
        raise NotFound("No such address.", code="address_not_found")
    async with rt.db.transaction() as s:
        result = await s.execute(
            delete(SavedAddress).where(
                SavedAddress.id == address_id, SavedAddress.user_id == user_id
            )
        )
        if getattr(result, "rowcount", 0) != 1:
            raise NotFound("No such address.", code="address_not_found")
