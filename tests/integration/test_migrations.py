"""The migration history: one head, every revision upgradable on its own (so no revision
leans on a table another branch creates without saying so), the migrated schema equal to
the models, and a way back down. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

import tillpoint.models  # noqa: F401  (every table in the metadata)
from tests.conftest import BACKENDS, PG_ADMIN_URL, admin_sql
from tillpoint.db import Base
from tillpoint.migrate import alembic_config, upgrade

SCRIPT = ScriptDirectory.from_config(alembic_config("unused://"))
REVISIONS = [rev.revision for rev in SCRIPT.walk_revisions()]


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (a new PostgreSQL database, or a new SQLite file)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("postgres_url")  # fails (in CI) or skips without PostgreSQL
    name = f"tillpoint_mig_{abs(hash(request.node.nodeid)) % 10**8}"
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _schema_differences(url: str) -> list[Any]:
    async def compare() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}),
                        Base.metadata,
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(compare())


def test_the_history_has_one_head() -> None:
    assert len(SCRIPT.get_heads()) == 1, f"several heads: {SCRIPT.get_heads()}"


def test_only_the_join_of_the_first_branches_has_several_parents() -> None:
    """From ``0003`` on the history is a line: a new branch would need its own join."""
    joins = [rev.revision for rev in SCRIPT.walk_revisions() if rev.is_merge_point]
    assert joins == ["0003"]


@pytest.mark.parametrize("revision", REVISIONS)
def test_each_revision_upgrades_an_empty_database_on_its_own(
    empty_database: str, revision: str
) -> None:
    upgrade(empty_database, revision)


def test_the_migrated_schema_is_what_the_models_declare(empty_database: str) -> None:
    upgrade(empty_database)
    assert _schema_differences(empty_database) == []


def test_the_history_goes_down_to_nothing_and_up_again(empty_database: str) -> None:
    upgrade(empty_database)
    command.downgrade(alembic_config(empty_database), "base")
    upgrade(empty_database)
    assert _schema_differences(empty_database) == []
