"""Liveness, readiness (database and Redis) and Prometheus metrics.

The metrics tell the runtime's version, memory and per-route traffic, so they answer only
the shop's monitoring: a client in ``TILLPOINT_METRICS_ALLOWED_NETWORKS`` (loopback by
default) or a caller with ``TILLPOINT_METRICS_TOKEN`` as its bearer token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from tillpoint.config import Settings
from tillpoint.errors import Forbidden
from tillpoint.security.client_ip import in_networks, parse_networks
from tillpoint.web.deps import RuntimeDep, client_ip
from tillpoint.web.routing import TypedPathRoute

router = APIRouter(tags=["ops"], route_class=TypedPathRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(rt: RuntimeDep) -> JSONResponse:
    """Ready to serve: the database answers, and Redis too when configured."""
    checks: dict[str, str] = {}
    try:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {type(exc).__name__}"
    if rt.redis is not None:
        try:
            await rt.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
    )


_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def _has_token(request: Request, settings: Settings) -> bool:
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    token = settings.metrics_token
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(sent, token or "")


def _from_allowed_network(request: Request, settings: Settings) -> bool:
    trusted = parse_networks(settings.trusted_proxies.split(","))
    peer = request.client.host if request.client else None
    if any(h in request.headers for h in _FORWARDING_HEADERS) and not in_networks(peer, trusted):
        return False  # relayed by a proxy we do not trust: the real client is unknown
    allowed = parse_networks(settings.metrics_allowed_networks.split(","))
    return in_networks(client_ip(request), allowed)


async def require_metrics_access(request: Request, rt: RuntimeDep) -> None:
    """The caller is the shop's monitoring (allowed network or token), or 403
    ``metrics_forbidden``."""
    if not (_has_token(request, rt.settings) or _from_allowed_network(request, rt.settings)):
        raise Forbidden("The metrics are only for the shop's monitoring.", code="metrics_forbidden")


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={403: {"description": "not the shop's monitoring"}},
)
async def metrics(_: Annotated[None, Depends(require_metrics_access)]) -> Response:
    """Prometheus text exposition (allowed networks or the metrics token only)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
