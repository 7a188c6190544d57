"""ASGI entry point for multi-worker servers: ``uvicorn tillpoint.web.asgi:app``."""

from tillpoint.web.app import create_app

app = create_app()
