"""Browser tests: our app served by uvicorn on a loopback port (SQLite and PostgreSQL),
driven by Playwright through Debian's Chromium, checked with axe-core.

- ``live``: a running server with the demo catalog; ``live.call(fn)`` runs ``await fn(rt)``
  on the server's own runtime and event loop (so in-process stock events reach its streams);
  ``live.received`` is every request the app was sent (method, path, headers, body).
- ``page`` / ``mobile_page``: a fresh browser context (desktop 1280x800, or 360x740).
- ``shots``: ``shots(page, "step")`` writes ``test-artifacts/screenshots/<test>/<nn>-step.png``.
- ``assert_accessible(page)``: runs axe-core and fails on serious or critical violations.

Chromium (``/usr/bin/chromium``) or ``node_modules/axe-core`` missing: skipped locally,
a failure under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from sqlalchemy import text

from tests.lock_order import LockOrderGuard
from tillpoint.catalog.demo import seed_demo_catalog
from tillpoint.config import Settings
from tillpoint.inventory.demo import seed_demo_stock
from tillpoint.models import Base
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TILLPOINT_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 360, "height": 740}

T = TypeVar("T")

pytestmark = pytest.mark.browser


def _unavailable(what: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI but unavailable: {why}")
    pytest.skip(f"{what} unavailable: {why}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


# --- the server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(rt: Runtime) -> None:
    """A clean database (PostgreSQL is shared by the run) with the demo catalog."""
    if not rt.settings.is_sqlite:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with rt.db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await seed_demo_catalog(rt)
    await seed_demo_stock(rt)


@dataclass(frozen=True)
class Received:
    """One HTTP request as our app received it (for "what reached our server" checks)."""

    method: str
    path: str
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def raw(self) -> bytes:
        """Everything the client sent: request line, headers and body."""
        head = b"\n".join(k + b": " + v for k, v in self.headers)
        return b" ".join((self.method.encode(), self.path.encode(), self.query, head, self.body))


@dataclass
class Timed:
    """When one request started, how it answered and how long it took (None: in flight)."""

    method: str
    path: str
    started: float
    status: int | None = None
    seconds: float | None = None


class RequestRecorder:
    """ASGI wrapper keeping every request our app receives, body included, and a timeline
    of them (printed when a browser test fails, to tell a slow server from a stuck page)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received: list[Received] = []
        self.timeline: list[Timed] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        timed = Timed(scope["method"], scope["path"], time.monotonic())
        self.timeline.append(timed)

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                timed.status = int(message["status"])
            await send(message)

        async def recording() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        try:
            await self.app(scope, recording, sending)
        finally:
            timed.seconds = time.monotonic() - timed.started
            self.received.append(
                Received(
                    scope["method"],
                    scope["path"],
                    scope.get("query_string", b""),
                    tuple(scope.get("headers", ())),
                    b"".join(chunks),
                )
            )


@dataclass
class LiveServer:
    """A served app on ``url``; ``call`` runs coroutines on its loop with its runtime;
    ``received`` is every request the app has been sent."""

    url: str
    settings: Settings
    backend: str
    app: Any
    loop: asyncio.AbstractEventLoop
    server: uvicorn.Server
    thread: threading.Thread
    recorder: RequestRecorder
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def received(self) -> list[Received]:
        return list(self.recorder.received)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def call(self, fn: Callable[[Runtime], Awaitable[T]], timeout: float = 15) -> T:
        return asyncio.run_coroutine_threadsafe(_run(fn, self), self.loop).result(timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


async def _run(fn: Callable[[Runtime], Awaitable[T]], live: LiveServer) -> T:
    return await fn(live.runtime)


def start_server(
    settings: Settings, backend: str, host: Callable[[Any], Any] | None = None
) -> LiveServer:
    """Serve ``create_app(settings)`` in a thread with its own event loop; wait until up.
    ``host(app)``, if given, returns the ASGI app served instead (one that mounts ours)."""
    app = create_app(settings)
    recorder = RequestRecorder(host(app) if host is not None else app)
    port = _free_port()
    config = uvicorn.Config(
        recorder, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())
        # sse-starlette leaves a shutdown watcher per stream; closing the loop over it logs
        # "Task was destroyed but it is pending": end them first.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=serve, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveServer(
        url=f"http://127.0.0.1:{port}",
        settings=settings,
        backend=backend,
        app=app,
        loop=loop,
        server=server,
        thread=thread,
        recorder=recorder,
    )


def describe_timeline(timeline: list[Timed], last: int = 25) -> str:
    """The last requests the server saw: start offset, method, path, status, duration."""
    if not timeline:
        return "(no requests)"
    origin = timeline[0].started
    lines = []
    for t in timeline[-last:]:
        took = "IN FLIGHT" if t.seconds is None else f"{t.seconds * 1000:.0f} ms"
        lines.append(f"+{t.started - origin:7.3f}s {t.method:6} {t.path} -> {t.status} ({took})")
    return "\n".join(lines)


@pytest.fixture
def live(request: pytest.FixtureRequest, settings: Settings, backend: str) -> Iterator[LiveServer]:
    """Our app with the demo catalog, served on a free loopback port."""
    yield from serve_live(request, settings, backend)


def serve_live(
    request: pytest.FixtureRequest,
    settings: Settings,
    backend: str,
    host: Callable[[Any], Any] | None = None,
) -> Iterator[LiveServer]:
    """The ``live`` fixture's body; ``host`` as for :func:`start_server`."""
    # Playwright's sync API keeps an event loop in this thread: all async work runs
    # on the server's loop instead.
    server = start_server(settings, backend, host)
    guard = LockOrderGuard()  # the audit head is the last lock, in served requests too
    if backend == "postgres":
        guard.install(server.runtime.db.engine.sync_engine)
    server.call(_prepare)
    yield server
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        report.sections.append(("server requests", describe_timeline(server.recorder.timeline)))
    server.stop()
    assert not guard.violations, "\n".join(guard.violations)
    assert backend != "postgres" or guard.transactions > 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Kept on the item so the ``live`` fixture's teardown can see whether the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    # Playwright's sync API keeps an event loop running in this thread while it lives:
    # it must end with this package (async tests elsewhere need the thread's loop free),
    # and the database fixtures, which migrate with asyncio.run(), are built first.
    for name in ("sqlite_template", "postgres_url"):
        with contextlib.suppress(pytest.skip.Exception):  # that backend's tests skip alone
            request.getfixturevalue(name)
    if not Path(CHROMIUM).exists():
        _unavailable("Chromium", f"{CHROMIUM} not found (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable("Playwright", str(exc))
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _context_page(browser: Any, live: LiveServer, viewport: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(
        base_url=live.url, viewport=viewport, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(30_000)  # generous: CI machines can be busy
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Anything our Content-Security-Policy refuses is a bug in the pages.
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(live: LiveServer, browser: Any) -> Iterator[Any]:
    """A fresh desktop browser tab (its own cookies) on the live server."""
    yield from _context_page(browser, live, DESKTOP)


@pytest.fixture
def mobile_page(live: LiveServer, browser: Any) -> Iterator[Any]:
    """A fresh 360 px wide tab, as on a small phone."""
    yield from _context_page(browser, live, MOBILE)


@pytest.fixture(params=["page", "mobile_page"], ids=["1280px", "360px"])
def tab(request: pytest.FixtureRequest, live: LiveServer) -> Any:
    """A desktop (1280 px) or a phone (360 px) tab on ``live`` (named so the backend
    parameter is known when the tests are collected)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def new_page(browser: Any, live: LiveServer) -> Iterator[Callable[[], Any]]:
    """Further tabs of the *same* customer (shared cookies), e.g. a second window."""
    contexts: list[Any] = []

    def factory(context: Any | None = None) -> Any:
        if context is None:
            context = browser.new_context(base_url=live.url, viewport=DESKTOP)
            contexts.append(context)
        return context.new_page()

    yield factory
    for c in contexts:
        c.close()


# --- screenshots and accessibility -----------------------------------------------------------

_shot_dirs: list[Path] = []


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shots(page, "cart")`` saves a full-page screenshot under this test's folder."""
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    counter = iter(range(1, 100))

    def take(page: Any, step: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if folder not in _shot_dirs:
            _shot_dirs.append(folder)
        path = folder / f"{next(counter):02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def assert_accessible(page: Any, *, context: str = "") -> None:
    """axe-core on the page as it is now; serious and critical violations fail the test."""
    if not AXE.exists():
        _unavailable("axe-core", f"{AXE} missing (run `npm ci`)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated over the DevTools protocol: our Content-Security-Policy (no inline
        # scripts) stays on for the page and still applies to everything else.
        page.evaluate(AXE.read_text())
    violations = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
              .filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
        }"""
    )
    assert violations == [], f"axe violations {context}: {violations}"


_measurements: list[str] = []


def report_measurement(line: str) -> None:
    """A number the run prints at its end (page weight, time to interactive)."""
    _measurements.append(line)
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    with (SCREENSHOTS.parent / "measurements.txt").open("a") as out:
        out.write(line + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _measurements:
        terminalreporter.write_sep("-", "browser measurements")
        for line in _measurements:
            terminalreporter.write_line(line)
    if _shot_dirs:
        terminalreporter.write_sep("-", "browser test screenshots")
        terminalreporter.write_line(f"screenshots: {SCREENSHOTS}")
        for folder in _shot_dirs:
            count = len(list(folder.glob("*.png")))
            terminalreporter.write_line(f"  {folder.relative_to(ROOT)}  ({count} images)")
