"""``/api/account``: the signed-in user's address book. (Order history is
``GET /api/orders``; buying an order again is ``POST /api/orders/{id}/buy-again``.)"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from tillpoint.addresses.public import Address
from tillpoint.auth import public as auth_public
from tillpoint.web.deps import RuntimeDep, UserDep
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import error_responses

router = APIRouter(prefix="/api/account", tags=["account"], route_class=TypedPathRoute)

AddressId = Annotated[str, Path(max_length=40, pattern=r"^adr_[0-9A-Za-z]{22}$")]


class SavedAddressOut(BaseModel):
    id: str
    address: Address
    created_at: datetime


class SavedAddressesOut(BaseModel):
    items: list[SavedAddressOut]


def _out(info: auth_public.SavedAddressInfo) -> SavedAddressOut:
    return SavedAddressOut(id=info.id, address=info.address, created_at=info.created_at)


@router.get("/addresses", response_model=SavedAddressesOut, responses=error_responses(401))
async def list_addresses(rt: RuntimeDep, session: UserDep, response: Response) -> SavedAddressesOut:
    """The signed-in user's saved addresses, newest first (the checkout may offer them)."""
    assert session.user_id is not None
    response.headers["Cache-Control"] = "no-store"
    found = await auth_public.list_addresses(rt, session.user_id)
    return SavedAddressesOut(items=[_out(info) for info in found])


@router.post(
    "/addresses",
    response_model=SavedAddressOut,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
async def add_address(body: Address, rt: RuntimeDep, session: UserDep) -> SavedAddressOut:
    """Save an address (checked and standardised by the checkout's rules); 422 with
    per-field codes, 409 ``address_book_full``."""
    assert session.user_id is not None
    return _out(await auth_public.add_address(rt, session.user_id, body))


@router.delete("/addresses/{address_id}", status_code=204, responses=error_responses(401, 403, 404))
async def delete_address(address_id: AddressId, rt: RuntimeDep, session: UserDep) -> Response:
    """Delete a saved address; 404 ``address_not_found`` for one that is not yours."""
    assert session.user_id is not None
    await auth_public.delete_address(rt, session.user_id, address_id)
    return Response(status_code=204)
