"""The async engine: SQLite (embedded default) or PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# What SQLite writes next to the database file: its write-ahead log, shared memory, journal.
_COMPANIONS = ("-wal", "-shm", "-journal")

# An execution option: the connection only reads (see `create_engine`).
READ_ONLY = "complaintbot_read_only"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite `url`; None for an in-memory or URI-named one."""
    database = make_url(url).database
    if not is_sqlite(url) or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def close_sqlite_files(url: str) -> None:
    """Creates the SQLite database file 0600 when it is missing (SQLite then writes into
    it, and gives its -wal and -shm files the database's mode) and closes existing ones
    to other users. A missing directory raises FileNotFoundError."""
    path = sqlite_file(url)
    if path is None:
        return
    for existing in (path, *(path.with_name(path.name + end) for end in _COMPANIONS)):
        if existing.exists():
            with contextlib.suppress(PermissionError):  # another user's file
                os.chmod(existing, 0o600)
    if path.exists():
        return
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # made meanwhile by another process (as 0600, when it was this code)
    try:
        os.fchmod(handle, 0o600)  # exactly, whatever the umask
    finally:
        os.close(handle)


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`; on SQLite: WAL, a busy timeout, foreign keys, and write
    transactions that take the database lock at BEGIN so two writers never deadlock
    while upgrading from a read lock; its files closed to other users (see
    `close_sqlite_files`: OSError when the file cannot be made). A connection with the
    `READ_ONLY` execution option begins plain read transactions instead, which under WAL
    read a snapshot and hold no lock a writer waits for (a long export does not stall the bot).
    A database error never quotes the values it was given (`hide_parameters`): they are
    what people wrote, and the error goes to the log."""
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    close_sqlite_files(url)
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
