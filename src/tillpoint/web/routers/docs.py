"""The API docs: the OpenAPI document, Swagger UI (``/docs``) and ReDoc (``/redoc``).

Their scripts and styles come from the ``fastapi-offline`` package and are served under
``/docs/assets``, so the docs work on a machine without internet access (FastAPI's own
pages load them from a CDN). ``TILLPOINT_API_DOCS`` decides who may read them: everyone,
nobody (the routes do not exist; the production default), or admins only.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from tillpoint.config import ApiDocs
from tillpoint.web.deps import require_admin
from tillpoint.web.pages.router import StaticAssets
from tillpoint.web.routing import TypedPathRoute

ASSETS = "/docs/assets"


def docs_router(mode: ApiDocs, title: str) -> APIRouter | None:
    """The docs routes for ``mode`` (None when the docs are off)."""
    if mode == ApiDocs.off:
        return None
    admin_only = [Depends(require_admin)] if mode == ApiDocs.admin else []
    router = APIRouter(include_in_schema=False, dependencies=admin_only, route_class=TypedPathRoute)

    @router.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        schema = request.app.openapi()
        if root := request.scope.get("root_path", "").rstrip("/"):
            # Mounted under a prefix: "Try it out" must call the API there.
            schema = {**schema, "servers": [{"url": root}]}
        return JSONResponse(schema)

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        )

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    return router


def docs_assets() -> StaticAssets:
    """Swagger UI's and ReDoc's files, as shipped by ``fastapi-offline``."""
    return StaticAssets(directory=str(files("fastapi_offline") / "static"))
