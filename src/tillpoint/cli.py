"""``tillpoint`` command line: serve, demo, migrate, sweep, create-admin."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from tillpoint.config import Settings, load_settings
from tillpoint.migrate import upgrade
from tillpoint.runtime import Runtime

app = typer.Typer(
    help="tillpoint: a production-grade checkout for Python shops.", no_args_is_help=True
)
T = TypeVar("T")


def with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open a runtime, run ``work`` on it, close it."""

    async def main() -> T:
        rt = Runtime.from_settings(settings)
        try:
            return await work(rt)
        finally:
            await rt.close()

    return asyncio.run(main())


@app.command()
def migrate() -> None:
    """Apply database migrations (SQLite or PostgreSQL, from TILLPOINT_DATABASE_URL)."""
    settings = load_settings()
    upgrade(settings.database_url)
    typer.echo("migrated")


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1:
        uvicorn.run(
            "tillpoint.web.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            factory=False,
        )
    else:
        from tillpoint.web.app import create_app

        uvicorn.run(
            create_app(settings), host=host, port=port, log_level="warning", access_log=False
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API and pages on an already migrated database."""
    _serve(load_settings(), host, port, workers)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")
    ] = True,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Migrate, seed the demo catalog (idempotent) and serve."""
    from tillpoint.catalog.demo import seed_demo_catalog

    settings = load_settings()
    upgrade(settings.database_url)
    added = with_runtime(settings, seed_demo_catalog)
    typer.echo(f"demo catalog ready ({added} products added)")
    if serve_after:
        typer.echo(f"serving on http://{host}:{port}")
        _serve(settings, host, port, 1)


@app.command()
def sweep() -> None:
    """Run every clean-up job once (expired sessions, carts, ...) and print the counts."""
    from tillpoint.sweeper import run_sweep

    typer.echo(json.dumps(with_runtime(load_settings(), run_sweep)))


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Argument(help="The admin's email address.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input (first line)."
        ),
    ] = False,
) -> None:
    """Create an admin account (who then logs in through POST /api/auth/login)."""
    from tillpoint.auth.models import ADMIN
    from tillpoint.auth.service import UserInfo, create_user
    from tillpoint.errors import TillpointError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = load_settings()

    async def work(rt: Runtime) -> UserInfo:
        return await create_user(rt, email=email, password=password, role=ADMIN)

    try:
        user = with_runtime(settings, work)
    except TillpointError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(json.dumps({"id": user.id, "email": user.email, "role": user.role}))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
