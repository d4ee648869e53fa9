"""Who may dispatch the outbox, and how its claims die with it.

Claimed rows are `sending` until settled, and name their dispatcher (`claimed_by`).
A claim whose dispatcher is gone is released at once, not after a lease runs out.

- SQLite: one process at a time, by an exclusive `flock` on a file beside the
  database. The kernel drops it when the process dies, however it dies; whenever a
  process holds it, every `sending` row it is not itself working on was left by one
  that is gone.
- PostgreSQL: every worker dispatches, each holding a session advisory lock named
  after its claims' token, on a connection of its own. The lock goes with the
  connection: a killed worker's is gone when PostgreSQL notices the connection closed,
  and the next dispatcher to look finds its claims' lock free and releases them.
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

# The advisory lock a dispatcher holds while it lives, named after its claims' token.
DISPATCHER_LOCK = "hashtext('complaintbot:dispatcher:' || {token})"


class OutboxHold:
    """Takes and keeps the right to dispatch (`token` names this one's claims). Not
    re-entrant: a second dispatcher on the same outbox object is refused, as one in
    another process is on SQLite."""

    def __init__(self, engine: AsyncEngine, token: str) -> None:
        self.engine = engine
        self.token = token
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
            log.warning("lost the connection that held our claims; taking them up again")
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
            lock = DISPATCHER_LOCK.format(token=":token")
            mine = bool(
                await connection.scalar(
                    text(f"SELECT pg_try_advisory_lock({lock})"), {"token": self.token}
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
                lock = DISPATCHER_LOCK.format(token=":token")
                await connection.execute(
                    text(f"SELECT pg_advisory_unlock({lock})"), {"token": self.token}
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
