"""Outbound webhook endpoints under ``/api/admin/webhook-endpoints`` (admin role).

The signing secret is shown when an endpoint is made and when it is rotated, never
otherwise; docs/webhooks.md says how a receiver checks ``Tillpoint-Signature``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from tillpoint.web.deps import AdminDep, RuntimeDep, request_actor
from tillpoint.web.openapi import link
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, error_responses, no_patch_defaults, patch_only
from tillpoint.web.screening import OPAQUE_TOKEN
from tillpoint.webhooks import public as webhooks

router = APIRouter(
    prefix="/api/admin/webhook-endpoints", tags=["admin"], route_class=TypedPathRoute
)

EndpointId = Annotated[str, Path(max_length=40, pattern=r"^whep_[0-9A-Za-z]{22}$")]
ADMIN_ERRORS = error_responses(400, 401, 403, 404, 422)
Url = Annotated[
    str, Field(min_length=1, max_length=2000, description="http(s); https in production.")
]
EventTypes = Annotated[list[webhooks.EventType], Field(min_length=1, max_length=20)]
Description = Annotated[str, Field(max_length=500)]
Cursor = Annotated[str | None, Query(max_length=40, json_schema_extra=OPAQUE_TOKEN)]
Limit = Annotated[int, Query(ge=1, le=200)]


class WebhookEndpointIn(StrictModel):
    url: Url
    events: EventTypes
    description: Description | None = None


class WebhookEndpointPatch(StrictModel):
    """Fields to change; leave one out to keep it. ``description: null`` clears it; the
    others cannot be null (422 ``null_not_allowed``)."""

    model_config = ConfigDict(json_schema_extra=no_patch_defaults)

    url: Annotated[Url | None, patch_only(Url)] = None
    events: Annotated[EventTypes | None, patch_only(EventTypes)] = None
    description: Description | None = None
    active: Annotated[bool | None, patch_only(bool)] = None

    @field_validator("url", "events", "active", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "null_not_allowed", "This field cannot be null: leave it out to keep it."
            )
        return value


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_at: datetime


class WebhookEndpointSecretOut(WebhookEndpointOut):
    secret: str = Field(description="Signs every delivery; shown only now: keep it.")


class WebhookEndpointListOut(BaseModel):
    items: list[WebhookEndpointOut]
    next_cursor: str | None


class WebhookDeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: str = Field(description="pending | delivered | failed")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class WebhookDeliveryListOut(BaseModel):
    items: list[WebhookDeliveryOut]
    next_cursor: str | None


def _out(endpoint: webhooks.WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=endpoint.id, url=endpoint.url, events=list(endpoint.events),
        description=endpoint.description, active=endpoint.active,
        created_at=endpoint.created_at,
    )  # fmt: skip


def _with_secret(endpoint: webhooks.WebhookEndpoint) -> WebhookEndpointSecretOut:
    return WebhookEndpointSecretOut(**_out(endpoint).model_dump(), secret=endpoint.secret)


def _delivery_out(row: webhooks.WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=row.id, event_id=row.event_id, event_type=row.event_type, status=row.status,
        attempts=row.attempts, last_status_code=row.last_status_code,
        last_error=row.last_error, next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at, created_at=row.created_at,
    )  # fmt: skip


_ENDPOINT = "/api/admin/webhook-endpoints/{endpoint_id}"
_BY_ID = {"endpoint_id": "$response.body#/id"}
_MADE: dict[int | str, dict[str, Any]] = {
    201: {
        "links": {
            "GetEndpoint": link("get", _ENDPOINT, **_BY_ID),
            "UpdateEndpoint": link("patch", _ENDPOINT, **_BY_ID),
            "DeleteEndpoint": link("delete", _ENDPOINT, **_BY_ID),
            "RotateSecret": link("post", _ENDPOINT + "/rotate-secret", **_BY_ID),
            "ListDeliveries": link("get", _ENDPOINT + "/deliveries", **_BY_ID),
        }
    }
}


@router.post("", status_code=201, responses={**_MADE, **ADMIN_ERRORS})
async def create_webhook_endpoint(
    body: WebhookEndpointIn, request: Request, rt: RuntimeDep, session: AdminDep
) -> WebhookEndpointSecretOut:
    """Register an endpoint for these event types; the answer holds its signing secret."""
    draft = webhooks.EndpointDraft(body.url, tuple(body.events), body.description)
    made = await webhooks.create_endpoint(rt, draft, actor=request_actor(request, session))
    return _with_secret(made)


@router.get("", responses=ADMIN_ERRORS)
async def list_webhook_endpoints(
    rt: RuntimeDep, session: AdminDep, cursor: Cursor = None, limit: Limit = 50
) -> WebhookEndpointListOut:
    """Endpoints by id (no secrets); pass ``next_cursor`` back as ``cursor``."""
    rows, next_cursor = await webhooks.list_endpoints(rt, after=cursor, limit=limit)
    return WebhookEndpointListOut(items=[_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/{endpoint_id}", responses=ADMIN_ERRORS)
async def get_webhook_endpoint(
    endpoint_id: EndpointId, rt: RuntimeDep, session: AdminDep
) -> WebhookEndpointOut:
    """One endpoint (no secret)."""
    return _out(await webhooks.get_endpoint(rt, endpoint_id))


@router.patch("/{endpoint_id}", responses=ADMIN_ERRORS)
async def update_webhook_endpoint(
    endpoint_id: EndpointId,
    body: WebhookEndpointPatch,
    request: Request,
    rt: RuntimeDep,
    session: AdminDep,
) -> WebhookEndpointOut:
    """Change the URL, event types, description or ``active``."""
    sent = body.model_fields_set
    changes = webhooks.EndpointChanges(
        url=body.url,
        events=None if body.events is None else tuple(body.events),
        description=(body.description or "") if "description" in sent else None,
        active=body.active,
    )
    endpoint = await webhooks.update_endpoint(
        rt, endpoint_id, changes, actor=request_actor(request, session)
    )
    return _out(endpoint)


@router.delete("/{endpoint_id}", status_code=204, responses=ADMIN_ERRORS)
async def delete_webhook_endpoint(
    endpoint_id: EndpointId, request: Request, rt: RuntimeDep, session: AdminDep
) -> Response:
    """Remove an endpoint; its pending deliveries are dropped."""
    await webhooks.delete_endpoint(rt, endpoint_id, actor=request_actor(request, session))
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", responses=ADMIN_ERRORS)
async def rotate_webhook_secret(
    endpoint_id: EndpointId, request: Request, rt: RuntimeDep, session: AdminDep
) -> WebhookEndpointSecretOut:
    """A new signing secret; the old one still signs (a second ``v1``) for
    ``TILLPOINT_WEBHOOK_SECRET_GRACE_HOURS``."""
    endpoint = await webhooks.rotate_secret(rt, endpoint_id, actor=request_actor(request, session))
    return _with_secret(endpoint)


@router.get("/{endpoint_id}/deliveries", responses=ADMIN_ERRORS)
async def list_webhook_deliveries(
    endpoint_id: EndpointId,
    rt: RuntimeDep,
    session: AdminDep,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> WebhookDeliveryListOut:
    """The endpoint's deliveries, newest first."""
    rows, next_cursor = await webhooks.list_deliveries(rt, endpoint_id, after=cursor, limit=limit)
    return WebhookDeliveryListOut(items=[_delivery_out(r) for r in rows], next_cursor=next_cursor)
