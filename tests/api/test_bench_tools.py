"""The benchmark tools themselves: they must measure a real server and verify honestly.

Not a timed test: it only checks that ``tillpoint bench`` drives a served process,
reports what it measured and that its database verification catches a wrong cart.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.flows import Outcome, verify_carts
from bench.procstat import RssWatch
from bench.recorder import Recorder, percentile

from tests.redis_process import free_port


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_rss_growth_counts_from_the_end_of_the_warm_up() -> None:
    watch = RssWatch(os.getpid())
    watch.sample()
    warm_up = bytearray(48 * 2**20)  # memory taken during the warm-up
    warm_up[::4096] = b"x" * len(warm_up[::4096])  # touched, so it is resident
    watch.warmed()
    under_load = bytearray(16 * 2**20)
    under_load[::4096] = b"y" * len(under_load[::4096])
    watch.sample()
    me = watch.summary()[str(os.getpid())]
    assert me["first_mb"] + 40 < me["warm_mb"] < me["last_mb"] - 12
    assert 0 < me["growth_pct"] < me["growth_from_cold_pct"]
    from_warm = 100 * (me["last_mb"] - me["warm_mb"]) / me["warm_mb"]
    assert abs(me["growth_pct"] - from_warm) < 0.2  # the MB figures are rounded
    del warm_up, under_load


async def test_a_paced_shopper_never_sleeps_past_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A start time handed out beyond the run's end must not stretch the run: the measured
    rate would read low (9.2 flows/s asked, 8.2 reported)."""
    import bench.load
    from bench.load import Pacer

    asked: list[float] = []

    async def sleep(seconds: float) -> None:  # record instead of waiting
        asked.append(seconds)

    monkeypatch.setattr(bench.load.asyncio, "sleep", sleep)
    pacer = Pacer(rate=2.0)  # slots at 0, 0.5, 1.0, 1.5 s after its start
    deadline = pacer.start + 0.3
    for _ in range(4):
        await pacer.wait_turn(deadline)
    assert len(asked) == 3  # the first slot is now
    assert all(0 < s <= 0.3 for s in asked)
    no_deadline = Pacer(rate=2.0)
    asked.clear()
    for _ in range(4):
        await no_deadline.wait_turn(no_deadline.start + 60)
    assert max(asked) > 1.4  # without the deadline near, the last slot is 1.5 s away


def test_recorder_counts_errors_by_template_and_status() -> None:
    r = Recorder()
    r.request("GET /api/cart", 200, 3.0)
    r.request("POST /api/cart/items", 409, 5.0)
    r.request("POST /api/cart/items", "transport:ReadTimeout", 30000.0)
    r.flow_done(True)
    r.flow_done(False, "POST /api/cart/items -> 409 out_of_stock")
    out = r.summary()
    assert out["requests"] == 3 and out["flows_completed"] == 1 and out["flows_failed"] == 1
    assert out["statuses"] == {"200": 1, "409": 1, "transport:ReadTimeout": 1}
    assert out["errors"]["POST /api/cart/items -> 409"] == 1
    assert out["endpoints"]["POST /api/cart/items"]["count"] == 2


@pytest.fixture
def served_shop(tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    """``tillpoint bench prepare`` then ``tillpoint serve`` on SQLite, as a real process."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    env = {
        **os.environ,
        "TILLPOINT_DATABASE_URL": db,
        "TILLPOINT_SECRET_KEY_FILE": str(tmp_path / "secret"),
        "TILLPOINT_LOG_LEVEL": "WARNING",
    }
    env.pop("TILLPOINT_REDIS_URL", None)
    cli = [sys.executable, "-m", "tillpoint"]
    seeded = subprocess.run(
        [*cli, "bench", "prepare", "--database-url", db], env=env, capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["skus_stocked"] > 10
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, db, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_load_run_drives_a_served_process_and_verifies_the_database(
    served_shop: tuple[str, str, int], tmp_path: Path
) -> None:
    base, db, pid = served_shop
    out = tmp_path / "report.json"
    args = ["--url", base, "--flow", "cart", "--shoppers", "3", "--duration", "2"]
    args += ["--warmup", "0", "--database-url", db, "--server-pid", str(pid)]
    args += ["--output", str(out), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "tillpoint", "bench", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["flows_completed"] > 0 and report["flows_failed"] == 0
    assert report["errors"] == {}
    assert set(report["endpoints"]) == {
        "GET /api/session",
        "GET /api/products",
        "GET /api/products/{product_id}",
        "POST /api/cart/items",
        "GET /api/cart",
    }
    assert report["verification"]["ok"] is True
    assert report["verification"]["carts_checked"] >= report["flows_completed"]
    assert report["cpu"]["server_s"] > 0
    assert str(pid) in report["server_rss"]


def test_verification_catches_a_cart_that_differs_from_what_the_shopper_was_told(
    served_shop: tuple[str, str, int],
) -> None:
    base, db, _pid = served_shop
    with httpx.Client(base_url=base) as client:
        session = client.get("/api/session").json()
        product = next(p for p in client.get("/api/products").json()["items"] if not p["variants"])
        cart = client.post(
            "/api/cart/items",
            json={"product_id": product["id"], "quantity": 2},
            headers={"X-CSRF-Token": session["csrf_token"]},
        ).json()
    told = Outcome(
        cart_id=session["cart_id"],
        lines={(product["id"], None): 3},  # the shopper believes 3; the cart holds 2
        subtotal=cart["totals"]["subtotal"],
        cart_version=cart["version"],
    )
    report = asyncio.run(verify_carts(db, [told]))
    assert report["ok"] is False and report["cart_mismatches"] == 1
    right = Outcome(told.cart_id, {(product["id"], None): 2}, told.subtotal, told.cart_version)
    assert asyncio.run(verify_carts(db, [right]))["ok"] is True


async def test_the_load_report_names_the_postgres_settings_behind_it(postgres_url: str) -> None:
    from bench.ceiling import server_settings

    shown = await server_settings(postgres_url)
    assert shown["autovacuum"] in {"on", "off"}
    assert shown["server_version"].split(".")[0].isdigit()


@pytest.fixture
def floor_dsn() -> Iterator[str]:
    """An empty PostgreSQL database of its own: the floor creates its table there."""
    from tests.conftest import PG_ADMIN_URL, _raw_pg_dsn, admin_sql

    name = f"tillpoint_floor_{os.getpid()}"
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield _raw_pg_dsn(PG_ADMIN_URL).rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _serve_floor(dsn: str, driver: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "tillpoint", "bench", "floor", "--port", str(port)]
    cmd += ["--workers", "1", "--driver", driver, "--database-url", dsn]
    server = subprocess.Popen(cmd)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("the floor server did not start")


async def _floor_hits(dsn: str) -> int:
    import asyncpg
    from bench.floor import TABLE

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT coalesce(sum(hits), 0) FROM {TABLE}"))
    finally:
        await conn.close()


@pytest.mark.parametrize("driver", ["asyncpg", "sqlalchemy", "session"])
def test_the_floor_runs_every_statement_of_a_purchase_it_claims(
    floor_dsn: str, driver: str, tmp_path: Path
) -> None:
    """The floor's figure means something only if it really sends the purchase's statements:
    its updates are counted in the database (one in three statements of a transaction)."""
    from bench.floor import PURCHASE
    from bench.flows import FloorFlow
    from bench.shopper import Shopper, open_transport

    server, base = _serve_floor(floor_dsn, driver)
    try:
        before = asyncio.run(_floor_hits(floor_dsn))

        async def purchases(n: int) -> Recorder:
            recorder = Recorder()
            flow = FloorFlow()
            async with httpx.AsyncClient(base_url=base) as client:
                await flow.prepare(client, None)
            async with open_transport("aiohttp", base, 10.0) as transport:
                shopper = Shopper(transport, recorder)
                for _ in range(n):
                    await flow.run(shopper, random.Random(1))
            return recorder

        recorder = asyncio.run(purchases(3))
        updates = sum(n // 3 for _, n in PURCHASE if n > 1)
        assert sum(n for _, n in PURCHASE) == 101 and updates > 0
        assert asyncio.run(_floor_hits(floor_dsn)) - before == 3 * updates
        assert recorder.summary()["requests"] == 3 * len(PURCHASE)

        out = tmp_path / "floor.json"
        args = ["--url", base, "--flow", "floor", "--shoppers", "2", "--duration", "1"]
        args += ["--warmup", "0", "--no-verify", "--server-pid", str(server.pid)]
        done = subprocess.run(
            [sys.executable, "-m", "tillpoint", "bench", *args, "--output", str(out), "--quiet"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(out.read_text())
        assert report["flows_completed"] > 0 and report["errors"] == {}
        assert len(report["endpoints"]) == len(PURCHASE)
    finally:
        server.terminate()
        server.wait(timeout=10)
