"""Schema migrations (Alembic), run from code so no alembic.ini is needed at run time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import READ_ONLY

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    # A read: on SQLite it need not wait for the writers' turn (a command started while
    # the bot is busy writing would otherwise poll for the lock with everyone else).
    async with engine.connect() as connection:
        await connection.execution_options(**{READ_ONLY: True})
        return await connection.run_sync(read)


async def upgrade(engine: AsyncEngine) -> None:
    """Brings the schema to the newest revision."""

    def run(connection: Connection) -> None:
        command.upgrade(_config(connection), "head")

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def is_up_to_date(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()


def autogenerate(engine_url: str, message: str) -> None:
    """Writes a new revision from the difference between the models and a database
    at `engine_url` (a developer tool: `python -m storage.migrate "message"`)."""
    import asyncio

    from storage.database import create_engine

    async def run() -> None:
        engine = create_engine(engine_url)
        async with engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.revision(_config(sync), message=message, autogenerate=True)
            )
        await engine.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    import sys

    autogenerate(sys.argv[2] if len(sys.argv) > 2 else "sqlite+aiosqlite:///:memory:", sys.argv[1])
