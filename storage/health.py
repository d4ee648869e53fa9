"""What readiness asks of the database: does it answer, and what time is it there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def database_time(engine: AsyncEngine) -> datetime | None:
    """The database server's clock (PostgreSQL); None for SQLite, which has no clock of
    its own (it is this machine's). Raises when the database does not answer."""
    async with engine.connect() as connection:
        if engine.dialect.name != "postgresql":
            await connection.execute(text("SELECT 1"))
            return None
        # clock_timestamp(): the time now, not the transaction's start.
        value = await connection.scalar(text("SELECT clock_timestamp()"))
    assert isinstance(value, datetime)
    return value
