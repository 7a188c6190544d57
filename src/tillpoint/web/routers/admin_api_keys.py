"""API keys under ``/api/admin/api-keys`` (admin role): a shop's server uses one on
``/api/v1``. The secret is in the create answer only; docs/checkout-sessions.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from tillpoint.api_keys import public as api_keys
from tillpoint.web.deps import AdminDep, RuntimeDep, request_actor
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, error_responses

router = APIRouter(prefix="/api/admin/api-keys", tags=["admin"], route_class=TypedPathRoute)

KeyId = Annotated[str, Path(max_length=40, pattern=r"^key_[0-9A-Za-z]{22}$")]
ADMIN_ERRORS = error_responses(401, 403, 404, 422)


class ApiKeyIn(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[api_keys.Scope] | None, Field(max_length=10)] = None


class ApiKeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    display: str = Field(description="tp_sk_…<last 4 characters>, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeySecretOut(ApiKeyOut):
    secret: str = Field(description="The key itself: shown only now, keep it on your server.")


class ApiKeyListOut(BaseModel):
    items: list[ApiKeyOut]


def _out(key: api_keys.ApiKeyInfo) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id, name=key.name, scopes=list(key.scopes), display=key.display,
        created_at=key.created_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at,
    )  # fmt: skip


@router.post("", status_code=201, responses=ADMIN_ERRORS)
async def create_api_key(
    body: ApiKeyIn, request: Request, response: Response, rt: RuntimeDep, session: AdminDep
) -> ApiKeySecretOut:
    """A new key (default scopes: both); the answer holds its secret, once."""
    response.headers["Cache-Control"] = "no-store"
    scopes = tuple(s.value for s in body.scopes) if body.scopes else None
    made = await api_keys.create_key(rt, body.name, scopes, actor=request_actor(request, session))
    return ApiKeySecretOut(**_out(made.key).model_dump(), secret=made.secret)


@router.get("", responses=ADMIN_ERRORS)
async def list_api_keys(response: Response, rt: RuntimeDep, session: AdminDep) -> ApiKeyListOut:
    """Every key, newest first (no secrets; revoked ones with ``revoked_at``)."""
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyListOut(items=[_out(k) for k in await api_keys.list_keys(rt)])


@router.delete("/{key_id}", responses=ADMIN_ERRORS)
async def revoke_api_key(
    key_id: KeyId, request: Request, response: Response, rt: RuntimeDep, session: AdminDep
) -> ApiKeyOut:
    """Revoke a key: refused on every instance from the next request on."""
    response.headers["Cache-Control"] = "no-store"
    return _out(await api_keys.revoke_key(rt, key_id, actor=request_actor(request, session)))
