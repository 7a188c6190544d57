"""Run Alembic migrations from code (``tillpoint migrate``, the demo, tests).

The history is one line (``0003`` joined the first features' branches): a new
revision's ``down_revision`` is the current head, and a test holds it to one head.
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


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the head by default)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """:func:`upgrade` from inside a running event loop (env.py starts its own loop)."""
    await asyncio.to_thread(upgrade, url, revision)
