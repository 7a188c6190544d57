"""The machine's own database ceiling: ``pgbench`` (TPC-B-like) on the same PostgreSQL.

Dividing completed flows per second by pgbench's transactions per second gives a
figure that means the same on a laptop and on a server. pgbench runs in a
scratch database it initialises here and drops afterwards, with the load run's
client count (capped by what the server's ``max_connections`` leaves free) and
the same duration.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]


def libpq_parts(database_url: str) -> dict[str, str]:
    """Host, port, user (and password) of a ``postgresql+asyncpg://`` URL, for pgbench."""
    parts = urlsplit(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    if parts.scheme != "postgresql":
        raise SystemExit("--ceiling needs a PostgreSQL --database-url")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": parts.username or "postgres",
        "password": parts.password or "",
    }


def _dsn(p: dict[str, str], db: str) -> str:
    auth = p["user"] + (f":{p['password']}" if p["password"] else "")
    return f"postgresql://{auth}@{p['host']}:{p['port']}/{db}"


async def _admin(p: dict[str, str], sql: str) -> Any:
    conn = await asyncpg.connect(_dsn(p, "postgres"), timeout=10)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def server_settings(database_url: str) -> dict[str, str]:
    """The PostgreSQL settings a reader of the figures needs: with autovacuum off (this
    machine's CI configuration) tables are never analyzed or vacuumed during a run, which a
    production server never does, and long runs drift from it."""
    p = libpq_parts(database_url)
    return {
        "server_version": str(await _admin(p, "SHOW server_version")),
        "autovacuum": str(await _admin(p, "SHOW autovacuum")),
    }


async def run_pgbench(
    database_url: str, *, clients: int, duration: float, scale: int = 10, threads: int = 2
) -> dict[str, Any]:
    """Initialise a scratch database, run TPC-B-like pgbench, drop it; return its figures."""
    exe = shutil.which("pgbench")
    if exe is None:
        raise SystemExit("pgbench is not installed (Debian: postgresql-client / postgresql)")
    p = libpq_parts(database_url)
    max_conn = int(await _admin(p, "SHOW max_connections"))
    in_use = int(await _admin(p, "SELECT count(*) FROM pg_stat_activity"))
    usable = max(min(clients, max_conn - in_use - 5), 1)
    name = f"tillpoint_pgbench_{os.getpid()}"
    env = {**os.environ, "PGPASSWORD": p["password"]} if p["password"] else dict(os.environ)
    conn_args = ["-h", p["host"], "-p", p["port"], "-U", p["user"]]
    await _admin(p, f'DROP DATABASE IF EXISTS "{name}"')
    await _admin(p, f'CREATE DATABASE "{name}"')
    try:
        init = [exe, "-i", "-q", "-s", str(scale), *conn_args, name]
        await asyncio.to_thread(subprocess.run, init, env=env, check=True, capture_output=True)
        run = [exe, "-n", "-c", str(usable), "-j", str(min(threads, usable))]
        run += ["-T", str(max(int(duration), 1)), *conn_args, name]
        done = await asyncio.to_thread(
            subprocess.run, run, env=env, check=True, capture_output=True, text=True
        )
    finally:
        await _admin(p, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    if match is None:
        raise SystemExit(f"could not read pgbench's tps from:\n{done.stdout}")
    return {
        "command": " ".join(["pgbench", *run[1:-1], "<scratch db>"]),
        "clients": usable,
        "clients_requested": clients,
        "scale": scale,
        "duration_s": int(duration),
        "tps": float(match.group(1)),
    }
