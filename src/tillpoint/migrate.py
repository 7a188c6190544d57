"""Run Alembic migrations from code (``tillpoint migrate``, the demo, tests).

Features add migrations as branches off the foundation revision; ``upgrade``
applies every head, so parallel features need no merge revision to run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our packaged migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` to ``revision`` (all heads by default)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    """:func:`upgrade` from inside a running event loop (env.py starts its own loop)."""
    await asyncio.to_thread(upgrade, url, revision)
