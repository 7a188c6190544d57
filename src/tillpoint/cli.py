"""``tillpoint`` command line: serve, demo, migrate, sweep."""

from __future__ import annotations

import asyncio
import json
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
    from tillpoint.inventory.demo import seed_demo_stock

    settings = load_settings()
    upgrade(settings.database_url)
    added = with_runtime(settings, seed_demo_catalog)
    typer.echo(f"demo catalog ready ({added} products added)")
    stocked = with_runtime(settings, seed_demo_stock)
    typer.echo(f"demo stock ready ({stocked} stock rows added)")
    if serve_after:
        typer.echo(f"serving on http://{host}:{port}")
        _serve(settings, host, port, 1)


@app.command()
def sweep() -> None:
    """Run every clean-up job once (expired sessions, carts, ...) and print the counts."""
    from tillpoint.sweeper import run_sweep

    typer.echo(json.dumps(with_runtime(load_settings(), run_sweep)))


inventory_app = typer.Typer(help="Stock: sync levels from an external inventory system.")
app.add_typer(inventory_app, name="inventory")


@inventory_app.command("sync")
def inventory_sync(
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Keep syncing every TILLPOINT_INVENTORY_SYNC_INTERVAL_SECONDS."
        ),
    ] = False,
) -> None:
    """Pull on-hand levels from TILLPOINT_INVENTORY_PROVIDER into the inventory table."""
    from tillpoint.inventory.providers import provider_from_settings
    from tillpoint.inventory.sync import sync_forever, sync_inventory

    settings = load_settings()
    try:
        provider = provider_from_settings(settings)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if provider is None:
        typer.echo("TILLPOINT_INVENTORY_PROVIDER is internal: nothing to sync", err=True)
        raise typer.Exit(2)
    if watch:
        interval = settings.inventory_sync_interval_seconds
        with_runtime(settings, lambda rt: sync_forever(rt, provider, interval))
        return
    result = with_runtime(settings, lambda rt: sync_inventory(rt, provider))
    typer.echo(json.dumps(result.__dict__))
    if result.error:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
