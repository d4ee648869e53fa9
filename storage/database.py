"""The async engine: SQLite (embedded default) or PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import weakref
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

# What SQLite writes next to the database file: its write-ahead log, shared memory, journal.
_COMPANIONS = ("-wal", "-shm", "-journal")

# An execution option: the connection only reads (see `create_engine`).
READ_ONLY = "complaintbot_read_only"
# An execution option: the connection only reads a few rows by an index, and on SQLite
# does so on the event loop's thread (see `_TurnConnection`).
QUICK_READ = "complaintbot_quick_read"

# How long a SQLite writer waits for the database before "database is locked".
_BUSY_SECONDS = 30


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


class _TurnConnection(aiosqlite.Connection):
    """aiosqlite's connection, which runs each call on a thread of its own; while
    `inline`, on the event loop's thread instead.

    Inline is for the statements of a write transaction that has its turn and SQLite's
    lock (see `_take_over_transactions`): nothing can make them wait for another
    connection, and SQLite answers them from its cache in microseconds, less than the
    trip to the thread and back (three or four per statement). BEGIN, which may wait for
    another process, and COMMIT, which may write back and sync the log, stay on the
    thread. So do read transactions (a long export), except a `QUICK_READ` one, inline
    from BEGIN to its end: under WAL a reader takes no lock anyone holds, and a look at
    a few indexed rows takes less than one trip. The trips are what makes a read slow
    under load: each waits for the interpreter's lock behind the busy event loop (up to
    its switch interval, 5 ms), measured as 17 ms for a web chat's three-row read with
    the loop a third busy."""

    inline = False

    # aiosqlite's one funnel for every call of a connection and its cursors (a private
    # method: were it renamed, calls would simply all go to the thread again).
    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.inline:
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)


def _inline(connection: Any, on: bool) -> None:
    driver = getattr(connection, "driver_connection", None)
    if isinstance(driver, _TurnConnection):
        driver.inline = on


def _connector(engine: Callable[[], AsyncEngine], url: str) -> Callable[[], Awaitable[Any]]:
    """What SQLAlchemy's aiosqlite driver would connect with, as a `_TurnConnection`."""

    async def connect() -> aiosqlite.Connection:
        args, kwargs = engine().sync_engine.dialect.create_connect_args(make_url(url))
        # Used by one caller at a time, from its thread or the loop's (`inline`).
        kwargs.update(timeout=_BUSY_SECONDS, check_same_thread=False)
        connection = _TurnConnection(partial(sqlite3.connect, *args, **kwargs), 64)
        # As SQLAlchemy does: an unclosed connection must not keep the process alive.
        getattr(connection, "_thread", connection).daemon = True
        return await connection

    return connect


class _WriterGate:
    """One write transaction at a time per SQLite engine in this process, in the order
    asked for.

    SQLite lets one writer in at a time anyway (`BEGIN IMMEDIATE`). Left to SQLite, the
    others poll: its busy handler sleeps 1, 2, 5 ... 100 ms between tries, so under
    load a writer sleeps long after the lock is free, and the bot's turns and the
    dispatcher's passes slow each other down (measured: 50 people at once handled
    slower than one at a time). Here they wait on an `asyncio.Lock` instead and are
    woken the moment the previous writer has committed or rolled back. Other processes
    (the command line) still meet at SQLite's lock, with its busy timeout."""

    def __init__(self) -> None:
        # A lock per event loop: an engine may outlive a loop (tests, `asyncio.run` twice).
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        # The DBAPI connection inside a write transaction, and the lock it holds.
        self._holder: tuple[Any, asyncio.Lock] | None = None

    def enter(self, connection: Any) -> None:
        """Waits (in SQLAlchemy's greenlet, so the event loop runs on) for the turn."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            await_only(_acquire(lock))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._holder = (_dbapi(connection), lock)

    def leave(self, connection: Any) -> None:
        """Ends the turn of `connection`, if it has it."""
        if self._holder is not None and self._holder[0] is _dbapi(connection):
            lock = self._holder[1]
            self._holder = None
            lock.release()


async def _acquire(lock: asyncio.Lock) -> None:
    # Not `wait_for`, which would start a task for each turn.
    async with asyncio.timeout(_BUSY_SECONDS):
        await lock.acquire()


def _dbapi(connection: Any) -> Any:
    """The DBAPI connection behind the pool's proxy of one (or itself)."""
    return getattr(connection, "dbapi_connection", connection)


def _info(connection: Any) -> dict[str, Any]:
    """The `info` of the pool's proxy of a connection, kept as long as the connection; a
    throwaway dict for a connection the pool does not keep (nothing is known of it)."""
    try:
        info: dict[str, Any] = connection.info
    except (AttributeError, NotImplementedError):
        return {}
    return info


# In a pooled connection's `info`: True while no transaction is open on it; for the
# next transaction when it only reads, True (or QUICK_READ); True while the open one is
# a quick read.
_IDLE = "complaintbot_idle"
_READS = "complaintbot_reads"
_QUICK = "complaintbot_quick"


def _take_over_transactions(dialect: Dialect, gate: _WriterGate) -> None:
    """Begins, commits and rolls back this engine's SQLite transactions.

    BEGIN IMMEDIATE (plain BEGIN for a `READ_ONLY` connection) in the writer's turn
    (`_WriterGate`), sent as one call to aiosqlite's thread (not a cursor's three). The
    turn ends once COMMIT or ROLLBACK has returned (SQLAlchemy's own events fire before
    them: the next writer would find the lock still taken and fall back to SQLite's
    sleeping). And the ROLLBACK the pool sends on every connection given back (its
    reset) is spared when the transaction has already ended: with aiosqlite each call
    is a trip to the connection's thread and back, for a ROLLBACK that does nothing.
    Errors are raised here, inside SQLAlchemy's calls, so they reach callers as
    SQLAlchemy's `OperationalError` like any other database error."""
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_begin(connection: Any) -> None:
        info = _info(connection)
        info[_IDLE] = False
        reads = info.pop(_READS, False)
        info[_QUICK] = reads == QUICK_READ
        if reads:
            _inline(connection, info[_QUICK])
            try:
                await_only(connection.driver_connection.execute("BEGIN"))
            except BaseException:
                _inline(connection, False)
                info[_QUICK] = False
                raise
            return
        gate.enter(connection)
        try:
            await_only(connection.driver_connection.execute("BEGIN IMMEDIATE"))
        except BaseException:
            gate.leave(connection)
            raise
        _inline(connection, True)

    def do_commit(connection: Any) -> None:
        _end(connection, commit)

    def do_rollback(connection: Any) -> None:
        _end(connection, rollback, unless_idle=True)

    def _end(connection: Any, end: Callable[[Any], None], unless_idle: bool = False) -> None:
        info = _info(connection)
        # A write transaction's COMMIT or ROLLBACK goes to the thread; a quick read's not.
        if not info.pop(_QUICK, False):
            _inline(connection, False)
        try:
            if unless_idle and info.get(_IDLE):
                return
            end(connection)
            info[_IDLE] = True
        finally:
            _inline(connection, False)
            gate.leave(connection)

    # This engine's own dialect instance: no other engine is affected.
    setattr(dialect, "do_begin", do_begin)  # noqa: B010
    setattr(dialect, "do_commit", do_commit)  # noqa: B010
    setattr(dialect, "do_rollback", do_rollback)  # noqa: B010


def create_engine(url: str, name: str | None = None) -> AsyncEngine:
    """An engine for `url`; on SQLite: WAL, a busy timeout, foreign keys, and write
    transactions that take the database lock at BEGIN so two writers never deadlock
    while upgrading from a read lock; its files closed to other users (see
    `close_sqlite_files`: OSError when the file cannot be made). A connection with the
    `READ_ONLY` execution option begins plain read transactions instead, which under WAL
    read a snapshot and hold no lock a writer waits for (a long export does not stall the bot);
    one with `QUICK_READ` (a look at a few rows) reads so on the event loop's thread.
    A database error never quotes the values it was given (`hide_parameters`): they are
    what people wrote, and the error goes to the log. On PostgreSQL `name` (the worker's
    id) is each connection's `application_name`: `pg_stat_activity` and `pg_locks` show
    which worker holds which claim."""
    if not is_sqlite(url):
        settings = {"application_name": name[:63]} if name else {}
        return create_async_engine(
            url,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args={"server_settings": settings},
        )
    close_sqlite_files(url)
    engine = create_async_engine(
        url, async_creator=_connector(lambda: engine, url), hide_parameters=True
    )
    gate = _WriterGate()
    _take_over_transactions(engine.sync_engine.dialect, gate)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let `_take_over_transactions` issue BEGIN instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs the log at checkpoints, not at every commit: a
        # committed (and so acknowledged) message survives the process crashing or
        # being killed, as the log is in the operating system's hands; only a power
        # loss or kernel crash can take the last commits back. FULL would sync at
        # every commit and make each message wait for the disk.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Tells `do_begin`, which sees only the DBAPI connection, how to begin.
        options = connection.get_execution_options()
        if options.get(QUICK_READ, False):
            _info(connection.connection)[_READS] = QUICK_READ
        elif options.get(READ_ONLY, False):
            _info(connection.connection)[_READS] = True

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _error: Any) -> None:
        _inline(dbapi_connection, False)
        gate.leave(dbapi_connection)  # a connection lost inside its transaction

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        _inline(dbapi_connection, False)
        gate.leave(dbapi_connection)  # returned without COMMIT or ROLLBACK reaching us

    return engine
