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


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit hash chain; exit 1 and list the breaks if a row was edited or removed."""
    from tillpoint.audit.verify import verify_chain

    report = with_runtime(load_settings(), verify_chain)
    typer.echo(
        json.dumps(
            {
                "ok": report.ok,
                "checked": report.checked,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "problems": report.problems,
            }
        )
    )
    if not report.ok:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
