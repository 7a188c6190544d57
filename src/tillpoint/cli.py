"""``tillpoint`` command line: serve, demo, migrate, sweep, create-admin, coupon, catalog,
inventory, audit, machine, settings, bench, email."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError

from tillpoint.config import Settings, load_settings
from tillpoint.migrate import upgrade
from tillpoint.money_format import known_locale
from tillpoint.runtime import Runtime

if TYPE_CHECKING:
    from tillpoint.api_keys.public import ApiKeyInfo
    from tillpoint.catalog.public import ImportReport, ImportRow
    from tillpoint.tax.public import TaxJobInfo
    from tillpoint.webhooks.public import WebhookEndpoint

app = typer.Typer(
    help="tillpoint: a production-grade checkout for Python shops.", no_args_is_help=True
)
T = TypeVar("T")


def settings_or_exit() -> Settings:
    """The settings from the environment, or exit 2 with what is wrong and which
    ``TILLPOINT_`` variable to fix (a configuration error is not a crash: no traceback)."""
    try:
        return load_settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            typer.echo(f"error: {'TILLPOINT_' + where + ': ' if where else ''}{message}", err=True)
        raise typer.Exit(2) from None


def with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open a runtime (built by the composition root), run ``work`` on it, close it."""
    from tillpoint.bootstrap import build_runtime

    async def main() -> T:
        rt = build_runtime(settings)
        try:
            return await work(rt)
        finally:
            await rt.close()

    return asyncio.run(main())


@app.command()
def migrate() -> None:
    """Apply database migrations (SQLite or PostgreSQL, from TILLPOINT_DATABASE_URL)."""
    settings = settings_or_exit()
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
            log_config=None,  # our JSON handler, which scrubs every record, logs for uvicorn too
            server_header=False,  # no "server: uvicorn": what we run is nobody's business
            # A larger WebSocket message is refused (1009) before it is buffered.
            ws_max_size=settings.inventory_ws_max_message_bytes,
            factory=False,
        )
    else:
        from tillpoint.web.app import create_app

        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            log_config=None,
            server_header=False,
            ws_max_size=settings.inventory_ws_max_message_bytes,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API and pages on an already migrated database."""
    _serve(settings_or_exit(), host, port, workers)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")
    ] = True,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Migrate, seed the demo catalog (idempotent) and serve."""
    from tillpoint.catalog.public import seed_demo_catalog
    from tillpoint.inventory.public import seed_demo_stock

    settings = settings_or_exit()
    upgrade(settings.database_url)
    added = with_runtime(settings, seed_demo_catalog)
    typer.echo(f"demo catalog ready ({added} products added)")
    stocked = with_runtime(settings, seed_demo_stock)
    typer.echo(f"demo stock ready ({stocked} stock rows added)")
    _demo_admin(settings, f"http://{host}:{port}/admin")
    if serve_after:
        typer.echo(f"serving on http://{host}:{port}")
        _serve(settings, host, port, 1)


DEMO_ADMIN = "owner@example.com"


def _demo_admin(settings: Settings, dashboard: str) -> None:
    """The demo's shop owner, made once with a random password printed that one time (a
    later run says the account exists; ``tillpoint create-admin`` makes another)."""
    import secrets

    from tillpoint.auth.public import ADMIN, create_user
    from tillpoint.errors import Conflict

    password = secrets.token_urlsafe(12)
    try:
        with_runtime(
            settings,
            lambda rt: create_user(rt, email=DEMO_ADMIN, password=password, role=ADMIN),
        )
    except Conflict:
        typer.echo(f"demo admin {DEMO_ADMIN} exists (its password was printed when made)")
        return
    typer.echo(f"demo admin ready: sign in at {dashboard} as {DEMO_ADMIN} / {password}")


@app.command()
def sweep() -> None:
    """Run every clean-up job once (expired sessions, carts, ...) and print the counts."""
    from tillpoint.sweeper import run_sweep

    typer.echo(json.dumps(with_runtime(settings_or_exit(), run_sweep)))


class DiagramFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"


@app.command()
def machine(
    format: Annotated[
        DiagramFormat, typer.Option("--format", help="mermaid (stateDiagram-v2) or dot (Graphviz).")
    ] = DiagramFormat.mermaid,
    expiry: Annotated[
        bool, typer.Option("--expiry/--no-expiry", help="Draw the EXPIRE edges of every state.")
    ] = True,
) -> None:
    """Print the checkout state machine (render dot output with ``dot -Tsvg``)."""
    from tillpoint.checkout import public as checkout_public

    render = (
        checkout_public.to_mermaid if format is DiagramFormat.mermaid else checkout_public.to_dot
    )
    typer.echo(render(include_expiry=expiry), nl=False)


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
    from tillpoint.auth.public import ADMIN, UserInfo, create_user
    from tillpoint.errors import TillpointError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = settings_or_exit()

    async def work(rt: Runtime) -> UserInfo:
        return await create_user(rt, email=email, password=password, role=ADMIN)

    try:
        user = with_runtime(settings, work)
    except TillpointError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(json.dumps({"id": user.id, "email": user.email, "role": user.role}))


coupon_app = typer.Typer(help="Manage coupons.", no_args_is_help=True)
app.add_typer(coupon_app, name="coupon")


@coupon_app.command("create")
def coupon_create(
    type_: Annotated[
        str,
        typer.Option("--type", help="percentage | fixed_amount | free_shipping | buy_x_get_y."),
    ],
    value: Annotated[
        int,
        typer.Option(
            help="Basis points for percentage/buy_x_get_y (1000 = 10 %), minor units "
            "for fixed_amount, 0 for free_shipping."
        ),
    ],
    code: Annotated[str | None, typer.Option(help="The code (one coupon).")] = None,
    count: Annotated[
        int | None, typer.Option(help="Instead of --code: this many unique single-use codes.")
    ] = None,
    prefix: Annotated[str, typer.Option(help="Prefix of the generated codes.")] = "",
    start: Annotated[
        str | None, typer.Option(help="ISO 8601 start with timezone (default: now).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="ISO 8601 end with timezone (default: 30 days on).")
    ] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 currency of amounts.")] = None,
    minimum_order_amount: Annotated[int | None, typer.Option(help="Minor units.")] = None,
    maximum_discount: Annotated[int | None, typer.Option(help="Minor units.")] = None,
    usage_limit: Annotated[int | None, typer.Option(help="Uses in total.")] = None,
    per_customer_limit: Annotated[int | None, typer.Option(help="Uses per customer.")] = None,
    combinable: Annotated[bool, typer.Option(help="May stack with other coupons.")] = False,
    product: Annotated[
        list[str] | None, typer.Option(help="Only these product ids (repeat).")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Never these product ids.")] = None,
    buy: Annotated[int | None, typer.Option(help="buy_x_get_y: units to buy.")] = None,
    get: Annotated[int | None, typer.Option(help="buy_x_get_y: units discounted.")] = None,
    buy_product: Annotated[list[str] | None, typer.Option(help="buy_x_get_y: buy set.")] = None,
    get_product: Annotated[list[str] | None, typer.Option(help="buy_x_get_y: get set.")] = None,
) -> None:
    """Create a coupon (--code) or a batch of unique single-use codes (--count); prints JSON."""
    from datetime import datetime, timedelta

    from tillpoint.errors import TillpointError
    from tillpoint.promotions import public as promotions_public

    if (code is None) == (count is None):
        raise typer.BadParameter("give exactly one of --code and --count")
    settings = settings_or_exit()

    def when(text: str | None, default: datetime) -> datetime:
        try:
            return datetime.fromisoformat(text) if text else default
        except ValueError as exc:
            raise typer.BadParameter(f"not an ISO 8601 time: {text}") from exc

    async def work(rt: Runtime) -> list[dict[str, object]]:
        now = rt.clock.now()
        meta: dict[str, object] = {}
        if buy is not None or get is not None:
            meta = {
                "buy_quantity": buy,
                "get_quantity": get,
                "buy_products": list(buy_product or []),
                "get_products": list(get_product or []),
            }
        draft = promotions_public.CouponDraft(
            code=code or prefix or "BATCH",
            type=type_,
            value=value,
            start_date=when(start, now),
            end_date=when(end, now + timedelta(days=30)),
            currency=currency,
            minimum_order_amount=minimum_order_amount,
            maximum_discount=maximum_discount,
            usage_limit=usage_limit,
            per_customer_limit=per_customer_limit,
            combinable=combinable,
            applicable_products=tuple(product or ()),
            excluded_products=tuple(exclude or ()),
            metadata=meta,
        )
        if count is not None:
            made = await promotions_public.create_coupon_batch(
                rt, draft, count=count, prefix=prefix
            )
        else:
            made = [await promotions_public.create_coupon(rt, draft)]
        return [promotions_public.coupon_to_dict(c) for c in made]

    try:
        made = with_runtime(settings, work)
    except TillpointError as exc:
        problems = "; ".join(f"{'.'.join(map(str, f.path))}: {f.message}" for f in exc.fields)
        typer.echo(f"error: {exc.code}: {exc.message} {problems}".strip(), err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(made, default=str, indent=2))


catalog_app = typer.Typer(help="The catalog: import and export products.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


class CatalogFormat(StrEnum):
    csv = "csv"
    json = "json"


def _format_of(path: Path, given: CatalogFormat | None) -> CatalogFormat:
    if given is not None:
        return given
    return CatalogFormat.json if path.suffix.lower() == ".json" else CatalogFormat.csv


@catalog_app.command("export")
def catalog_export(
    fmt: Annotated[CatalogFormat, typer.Option("--format", help="csv or json.")] = (
        CatalogFormat.csv
    ),
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Write every product and variant (active or not) as CSV or JSON (docs/catalog.md)."""
    from tillpoint.catalog.public import export_catalog

    text = with_runtime(settings_or_exit(), lambda rt: export_catalog(rt, fmt.value))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[
        CatalogFormat | None, typer.Option("--format", help="Default: from the extension.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; write nothing.")
    ] = False,
    all_or_nothing: Annotated[
        bool, typer.Option("--all-or-nothing", help="Write nothing if any row is refused.")
    ] = False,
) -> None:
    """Upsert products by SKU from a CSV or JSON file; report each refused row (row,
    field, message) and exit 1 if there was one. Good rows are written unless
    --all-or-nothing (or --dry-run)."""
    from tillpoint.catalog import public as catalog_public
    from tillpoint.errors import TillpointError

    try:
        text = file.read_text(encoding="utf-8")
        reader = (
            catalog_public.read_json if _format_of(file, fmt) == "json" else catalog_public.read_csv
        )
        rows = reader(text)
    except (TillpointError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(2) from None
    report = _run_import(rows, dry_run=dry_run, all_or_nothing=all_or_nothing)
    _print_report(report, len(rows), dry_run=dry_run)
    if report.failed:
        raise typer.Exit(1)


def _run_import(rows: list[ImportRow], *, dry_run: bool, all_or_nothing: bool) -> ImportReport:
    """Import with a progress bar on stderr when it is a terminal (nothing otherwise)."""
    from tillpoint.catalog.public import import_rows

    settings = settings_or_exit()
    if not sys.stderr.isatty():
        return with_runtime(
            settings,
            lambda rt: import_rows(rt, rows, dry_run=dry_run, all_or_nothing=all_or_nothing),
        )
    with typer.progressbar(length=len(rows), label="Importing", file=sys.stderr) as bar:
        done = [0]

        def step(n: int) -> None:
            bar.update(n - done[0])
            done[0] = n

        return with_runtime(
            settings,
            lambda rt: import_rows(
                rt, rows, dry_run=dry_run, all_or_nothing=all_or_nothing, progress=step
            ),
        )


def _print_report(report: ImportReport, total: int, *, dry_run: bool) -> None:
    for p in report.problems:
        typer.echo(f"row {p.row}: {p.field}: {p.code}: {p.message}")
    state = (
        "dry run: nothing written"
        if dry_run
        else "written"
        if report.written
        else "nothing written (--all-or-nothing)"
    )
    typer.echo(
        f"{total} products: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.failed} refused; {state}"
    )


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
    from tillpoint.inventory.public import provider_from_settings, sync_forever, sync_inventory

    settings = settings_or_exit()
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


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk every audit hash chain; exit 1 and list the breaks if a row was edited or removed."""
    from tillpoint.audit.verify import verify_chain

    report = with_runtime(settings_or_exit(), verify_chain)
    typer.echo(
        json.dumps(
            {
                "ok": report.ok,
                "checked": report.checked,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "chains": [[h.chain, h.seq, h.hash] for h in report.chains],
                "problems": report.problems,
            }
        )
    )
    if not report.ok:
        raise typer.Exit(1)


webhooks_app = typer.Typer(help="Outbound webhooks to your own systems.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


def _run_or_exit(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work``; a refusal exits 1 with its code, message and fields."""
    from tillpoint.errors import TillpointError

    try:
        return with_runtime(settings_or_exit(), work)
    except TillpointError as exc:
        problems = "; ".join(f"{'.'.join(map(str, f.path))}: {f.message}" for f in exc.fields)
        typer.echo(f"error: {exc.code}: {exc.message} {problems}".strip(), err=True)
        raise typer.Exit(1) from exc


def _endpoint_json(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, object]:
    data: dict[str, object] = {
        "id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events),
        "description": endpoint.description, "active": endpoint.active,
        "created_at": endpoint.created_at.isoformat(),
    }  # fmt: skip
    if secret:
        data["secret"] = endpoint.secret
    return data


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Where to POST events (http(s)).")],
    event: Annotated[
        list[str], typer.Option("--event", help="An event type to send (repeat for more).")
    ],
    description: Annotated[str | None, typer.Option(help="A note for you.")] = None,
) -> None:
    """Register an endpoint; prints it with its signing secret (shown only here)."""
    from tillpoint.webhooks.public import EndpointDraft, EventType, create_endpoint

    known = {e.value for e in EventType}
    if unknown := [e for e in event if e not in known]:
        typer.echo(f"error: unknown event type {unknown[0]!r}; one of {sorted(known)}", err=True)
        raise typer.Exit(2)
    draft = EndpointDraft(url, tuple(EventType(e) for e in event), description)
    made = _run_or_exit(lambda rt: create_endpoint(rt, draft))
    typer.echo(json.dumps(_endpoint_json(made, secret=True), indent=2))


@webhooks_app.command("list")
def webhooks_list() -> None:
    """Every endpoint (no secrets), as JSON."""
    from tillpoint.webhooks.public import list_endpoints

    rows, _ = _run_or_exit(lambda rt: list_endpoints(rt, limit=10_000))
    typer.echo(json.dumps([_endpoint_json(r) for r in rows], indent=2))


@webhooks_app.command("rotate")
def webhooks_rotate(endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id.")]) -> None:
    """A new signing secret (printed); the old one still signs during the grace period."""
    from tillpoint.webhooks.public import rotate_secret

    endpoint = _run_or_exit(lambda rt: rotate_secret(rt, endpoint_id))
    typer.echo(json.dumps(_endpoint_json(endpoint, secret=True), indent=2))


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """The endpoint's latest deliveries and how they went, as JSON."""
    from tillpoint.webhooks.public import list_deliveries

    rows, _ = _run_or_exit(lambda rt: list_deliveries(rt, endpoint_id, limit=limit))
    fields = ("id", "event_id", "event_type", "status", "attempts", "last_status_code",
              "last_error", "next_attempt_at", "delivered_at", "created_at")  # fmt: skip
    items = [{f: getattr(r, f) for f in fields} for r in rows]
    typer.echo(json.dumps(items, default=str, indent=2))


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id.")]) -> None:
    """Remove an endpoint (its pending deliveries are dropped)."""
    from tillpoint.webhooks.public import delete_endpoint

    _run_or_exit(lambda rt: delete_endpoint(rt, endpoint_id))
    typer.echo(f"removed {endpoint_id}")


api_key_app = typer.Typer(help="API keys for /api/v1 (checkout sessions).", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


def _key_json(key: ApiKeyInfo) -> dict[str, object]:
    return {
        "id": key.id, "name": key.name, "scopes": list(key.scopes), "display": key.display,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }  # fmt: skip


@api_key_app.command("create")
def api_key_create(
    name: Annotated[str, typer.Option("--name", help="What uses the key, e.g. 'web shop'.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="checkout_sessions:write or :read (repeat; default both)."),
    ] = None,
) -> None:
    """Make a key; prints it as JSON, then the secret alone on the last line (shown only
    here: `tail -1` it into your shop's secret store)."""
    from tillpoint.api_keys.public import create_key

    made = _run_or_exit(lambda rt: create_key(rt, name, tuple(scope) if scope else None))
    typer.echo(json.dumps(_key_json(made.key), indent=2))
    typer.echo(made.secret)


@api_key_app.command("list")
def api_key_list() -> None:
    """Every key (no secrets), newest first, as JSON."""
    from tillpoint.api_keys.public import list_keys

    typer.echo(json.dumps([_key_json(k) for k in _run_or_exit(list_keys)], indent=2))


@api_key_app.command("revoke")
def api_key_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_…).")]) -> None:
    """Revoke a key: every instance refuses it from the next request on."""
    from tillpoint.api_keys.public import revoke_key

    key = _run_or_exit(lambda rt: revoke_key(rt, key_id))
    typer.echo(json.dumps(_key_json(key), indent=2))


tax_app = typer.Typer(help="The record of sales at AvaTax or TaxJar.", no_args_is_help=True)
app.add_typer(tax_app, name="tax")


def _tax_job_json(job: TaxJobInfo) -> dict[str, object]:
    return {
        "id": job.id, "order_id": job.order_id, "provider": job.provider, "kind": job.kind,
        "status": job.status, "attempts": job.attempts,
        "available_at": job.available_at.isoformat(), "last_error": job.last_error,
    }  # fmt: skip


@tax_app.command("jobs")
def tax_jobs(
    status: Annotated[
        str | None, typer.Option("--status", help="pending, done, failed or skipped.")
    ] = None,
) -> None:
    """The sales, voids and refunds sent (or still to send) to the tax provider, as JSON."""
    from tillpoint.tax.public import JOB_STATUSES, list_tax_jobs

    if status is not None and status not in JOB_STATUSES:
        typer.echo(f"--status must be one of {', '.join(JOB_STATUSES)}", err=True)
        raise typer.Exit(2)
    jobs = _run_or_exit(lambda rt: list_tax_jobs(rt, status))
    typer.echo(json.dumps([_tax_job_json(j) for j in jobs], indent=2))


@tax_app.command("retry")
def tax_retry(job_id: Annotated[str, typer.Argument(help="A failed job's id.")]) -> None:
    """Send a job that gave up once more, at the next sweep (e.g. after fixing the keys)."""
    from tillpoint.tax.public import retry_tax_job

    job = _run_or_exit(lambda rt: retry_tax_job(rt, job_id))
    typer.echo(json.dumps(_tax_job_json(job), indent=2))


@app.command("settings")
def settings_doc(
    check: Annotated[
        Path | None,
        typer.Option(help="Exit 1 if this file (docs/configuration.md) is out of date."),
    ] = None,
) -> None:
    """Print every TILLPOINT_ setting as Markdown: the source of docs/configuration.md."""
    from tillpoint.settings_doc import render_markdown, stale_lines

    page = render_markdown()
    if check is None:
        typer.echo(page, nl=False)
        return
    if diff := stale_lines(check, page):
        typer.echo("\n".join(diff), err=True)
        typer.echo(f"{check} is out of date: run `tillpoint settings > {check}`", err=True)
        raise typer.Exit(1)


BENCHES = ("load", "stampede", "soak", "prepare", "queries", "floor")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench(ctx: typer.Context) -> None:
    """Benchmarks (source checkout): ``tillpoint bench [NAME] ...``.

    NAME is one of load, stampede, soak, prepare, queries, floor.

    ``load`` (the default) drives a running server with concurrent shoppers and
    prints JSON; ``--help`` after the name lists each one's options.
    """
    import importlib
    from pathlib import Path

    args = list(ctx.args)
    which = args.pop(0) if args and args[0] in BENCHES else "load"
    # bench/ lives beside src/ in the repository and is not part of the installed package.
    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / f"{which}.py").exists():
        typer.echo("tillpoint bench runs from a source checkout (bench/ was not found)", err=True)
        raise typer.Exit(2)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module(f"bench.{which}")
    raise typer.Exit(int(module.main(args)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()


email_app = typer.Typer(help="The shop's emails and their templates.", no_args_is_help=True)
app.add_typer(email_app, name="email")


class EmailKindOption(StrEnum):
    order_confirmation = "order_confirmation"
    order_shipped = "order_shipped"
    refund_issued = "refund_issued"
    back_in_stock = "back_in_stock"
    password_reset = "password_reset"
    email_verification = "email_verification"
    low_stock = "low_stock"
    owner_new_order = "owner_new_order"


@email_app.command("preview")
def email_preview(
    kind: Annotated[EmailKindOption, typer.Argument(help="Which email to render.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File to write: `.html` the HTML part, `.txt` the text part, anything else "
            "(`.eml`) the whole multipart message. Default: email-preview-KIND.html.",
        ),
    ] = None,
    locale: Annotated[
        str | None, typer.Option(help="Locale for amounts (default TILLPOINT_SHOP_LOCALE).")
    ] = None,
) -> None:
    """Render KIND with sample data through the shop's templates (overrides included)."""
    from tillpoint.mail.kinds import EmailKind
    from tillpoint.mail.render import render_email
    from tillpoint.mail.samples import sample
    from tillpoint.outbox.service import Message, build_email

    settings = settings_or_exit()
    if locale is not None and not known_locale(locale):
        typer.echo(f"error: {locale!r} is not a locale Babel knows", err=True)
        raise typer.Exit(2)
    email = render_email(sample(EmailKind(kind.value), settings), settings, locale=locale)
    target = out or Path(f"email-preview-{kind.value}.html")
    if target.suffix == ".html":
        target.write_text(email.html, encoding="utf-8")
    elif target.suffix == ".txt":
        target.write_text(email.text, encoding="utf-8")
    else:
        message = Message(kind.value, "shopper@example.com", email.payload())
        target.write_bytes(bytes(build_email(message, settings.notification_from)))
    typer.echo(f"{email.subject}\n-> {target}")
