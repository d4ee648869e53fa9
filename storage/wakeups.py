"""Workers wake each other through PostgreSQL: a transaction that stores work sends a
notice (`NOTIFY`, delivered at its commit), and every worker listening hears it.

- `INBOUND`: raw updates were stored (any worker's handlers may claim them).
- `OUTBOX`: replies were queued by a process with no dispatcher of its own (a CLI
  command): the workers send them now, not at their next look. A worker's own replies
  wake its own dispatcher, in memory.

SQLite has one process, whose parts wake each other in memory. A notice lost with a
dropped connection costs a wait: every listener also looks on its own now and then.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

INBOUND = "complaintbot_inbound"
OUTBOX = "complaintbot_outbox"


async def notify(session: AsyncSession, name: str) -> None:
    """Sends the notice `name` when `session`'s transaction commits (PostgreSQL)."""
    await session.execute(text("SELECT pg_notify(:name, '')"), {"name": name})


@contextlib.asynccontextmanager
async def listening(
    engine: AsyncEngine, callbacks: Mapping[str, Callable[[], None]]
) -> AsyncIterator[None]:
    """Calls `callbacks[name]` at each notice `name` while the context lasts (LISTEN on a
    connection of its own, PostgreSQL); elsewhere there is nobody else to hear."""
    if engine.dialect.name != "postgresql":
        yield
        return
    connection = await engine.connect()
    try:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        heard = {name: _listener(callback) for name, callback in callbacks.items()}
        for name, listener in heard.items():
            await driver.add_listener(name, listener)
        try:
            yield
        finally:
            for name, listener in heard.items():
                with contextlib.suppress(Exception):
                    await driver.remove_listener(name, listener)
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


def _listener(callback: Callable[[], None]) -> Callable[..., None]:
    def heard(*_args: object) -> None:
        callback()

    return heard
