"""Which process dispatches the outbox: one at a time, and its claims die with it.

Claimed rows are `sending` until settled. Only the holder of the outbox claims, so
whenever a process holds it, every `sending` row it is not itself working on was left
by a holder that is gone, and is released at once (nobody waits for a lease to run
out after a crash).

- SQLite: an exclusive `flock` on a file beside the database. The kernel drops it when
  the process dies, however it dies; `run` and a CLI command in other processes can
  never take over live claims.
- PostgreSQL: a session advisory lock on a connection of its own. It goes with the
  connection: a killed worker's lock is gone when PostgreSQL notices the connection
  closed, and another worker takes over at its next look.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.database import sqlite_file

log = logging.getLogger(__name__)

# Any fixed number ("compldis" in ASCII), recognisable in pg_locks.
_DISPATCH_LOCK = 0x636F6D70_6C646973


class OutboxHold:
    """Takes and keeps the right to dispatch. Not re-entrant: a second dispatcher on the
    same outbox object is refused like one in another process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._held = False
        self._file: IO[bytes] | None = None
        self._connection: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._held

    async def take(self) -> bool:
        """True when this process now holds the outbox; pair with `give`."""
        if self._held or not await self._acquire():
            return False
        self._held = True
        return True

    async def give(self) -> None:
        self._held = False
        await self._release()

    async def still_held(self) -> bool:
        """False when the hold was lost underneath (the PostgreSQL connection died)."""
        if self._connection is None:
            return self._held
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            log.warning("lost the connection that held the outbox; taking it again")
            return False
        return True

    async def _acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            return await self._acquire_advisory()
        path = sqlite_file(self.engine.url.render_as_string(hide_password=False))
        if path is None:
            return True  # an in-memory database lives in this process only
        self._file = _lock_beside(path)
        return self._file is not None

    async def _acquire_advisory(self) -> bool:
        connection = await self.engine.connect()
        try:
            mine = bool(
                await connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": _DISPATCH_LOCK}
                )
            )
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not mine:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def _release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Closing the session ends its advisory lock; a connection that is already
            # broken has lost it anyway.
            with contextlib.suppress(Exception):
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _DISPATCH_LOCK}
                )
                await connection.commit()
            with contextlib.suppress(Exception):
                await connection.close()


def worker_lock(url: str) -> IO[bytes] | bool:
    """For a SQLite file: the open lock file that makes this process its one worker, or
    False when another process is; True for PostgreSQL or a database in memory (no
    such lock needed). Raises OSError when the lock file cannot be made."""
    path = sqlite_file(url)
    if path is None:
        return True
    return _lock_beside(path, "worker") or False


def _lock_beside(database: Path, purpose: str = "dispatch") -> IO[bytes] | None:
    """The open lock file beside the database, locked; None when another holds it.
    (A local file and a non-blocking lock: nothing here waits.)"""
    lock_path = Path(f"{database}.{purpose}.lock")
    handle = open(lock_path, "a+b")
    os.chmod(lock_path, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
