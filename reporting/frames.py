"""The ledger's cases as columns (`reporting.columns.CASE_SCHEMA`), a batch at a time,
for a CSV ledger of a million cases: what `reporting.reading.ledger_cases` gives, without a
Python object per value.

On SQLite and PostgreSQL the cases come straight into Arrow columns through the ADBC
drivers, each batch one query for the cases after the last one of the batch before (by
received_at, then id) and, like `ledger_cases`' batches, a read of its own: a case filed
while the export runs is included only if its batch has not been read yet.

A module of its own, imported only by the CSV export: polars costs the process some
40 MB that the XLSX export, its second process and the report do without.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial

import adbc_driver_manager as adbc
import adbc_driver_postgresql as adbc_postgresql
import adbc_driver_sqlite as adbc_sqlite
import polars as pl
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.columns import CASE_SCHEMA, REFERRED, UTC_TIME, case_frame
from reporting.layout import LedgerCase
from reporting.reading import HANDLERS, batch_query, ledger_cases, referrals_text

BATCH = 10_000

log = logging.getLogger(__name__)


async def ledger_frames(
    engine: AsyncEngine,
    start: datetime,
    end: datetime,
    batch: int = BATCH,
    *,
    adbc_sqlite: bool = True,
) -> AsyncIterator[pl.DataFrame]:
    """Every case received in [start, end), oldest first, `batch` at a time as columns
    (`reporting.columns.CASE_SCHEMA`): what `ledger_cases` gives, for a big CSV.

    Where no ADBC driver can read the database (SQLite in memory, a connection the
    driver refuses), the batches are the `LedgerCase`s of `ledger_cases` made columns.
    So too on SQLite without `adbc_sqlite`: the driver links its own SQLite library, and
    closing its file drops the POSIX locks the process's other connections hold on the
    same database (SQLite's "multiple copies" hazard), harmless in a one-shot command,
    not in a server that goes on writing.
    """
    sqlite = engine.url.get_backend_name() == "sqlite"
    reader = (
        None if sqlite and not adbc_sqlite else await _arrow_reader(engine.url, (start, end), batch)
    )
    if reader is None:
        cases: list[LedgerCase] = []
        async for case in ledger_cases(engine, start, end):
            cases.append(case)
            if len(cases) == batch:
                yield case_frame(cases)
                cases = []
        if cases:
            yield case_frame(cases)
        return
    upcoming: asyncio.Future[pl.DataFrame | None] | None = None
    try:
        # The next batch is read in a thread (the driver lets go of the interpreter) while
        # the caller turns this one into cells on the other core. (Handed to the thread
        # now: a task would only start at the caller's next await.)
        loop = asyncio.get_running_loop()
        upcoming = loop.run_in_executor(None, reader.read)
        while (rows := await upcoming) is not None:
            upcoming = loop.run_in_executor(None, reader.read)
            yield _as_case_columns(rows)
        upcoming = None
    finally:
        if upcoming is not None:
            await asyncio.wait([upcoming])  # the thread still reads: let it end first
        await asyncio.to_thread(reader.close)


async def _arrow_reader(
    url: URL, period: tuple[datetime, datetime], batch: int
) -> _ArrowReader | None:
    """A reader of the period's cases through the database's ADBC driver, or None."""
    start, end = period
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database and url.database != ":memory:":
        opened = partial(
            _ArrowReader,
            lambda: adbc_sqlite.connect(url.database),
            _FRAMES["sqlite"],
            (_sqlite_time(start), _sqlite_time(end)),
            batch,
            # One Arrow batch per query (the driver's default is 1024 rows), and the
            # bot's wait for a busy database.
            {"adbc.sqlite.query.batch_rows": str(batch)},
            ["PRAGMA busy_timeout=30000"],
        )
    elif backend == "postgresql":
        opened = partial(
            _ArrowReader,
            lambda: adbc_postgresql.connect(_libpq_uri(url)),
            _FRAMES["postgresql"],
            (start.astimezone(UTC), end.astimezone(UTC)),
            batch,
            {},
            # The planner, seeing the whole period, would compile each batch's query
            # (some 35 ms) for 10,000 rows that take a few hundred.
            ["SET jit = off"],
        )
    else:
        return None
    try:
        return await asyncio.to_thread(opened)
    except adbc.Error as error:  # the rows come the slower way instead
        reason = " ".join(str(error).split())  # libpq's message ends in a line break
        log.warning("ledger: reading through ADBC failed (%s); reading case by case", reason)
        return None


def _libpq_uri(url: URL) -> str:
    """`url` (SQLAlchemy's, for asyncpg) as libpq takes it; asyncpg's `ssl` is libpq's
    `sslmode`."""
    query = {("sslmode" if key == "ssl" else key): value for key, value in url.query.items()}
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


class _ArrowReader:
    """The cases received in a period, `batch` at a time through an ADBC driver's own
    statement API (not its DB-API module: a batch comes as an Arrow stream that polars
    takes as it is, and the process does without pyarrow)."""

    def __init__(
        self,
        connect: Callable[[], adbc.AdbcDatabase],
        query: str,
        period: tuple[object, object],
        batch: int,
        options: dict[str, str],
        setup: list[str],
    ) -> None:
        with ExitStack() as opened:  # what is open is closed again if a step fails
            self._database = connect()
            opened.callback(self._database.close)
            self._connection = adbc.AdbcConnection(self._database)
            opened.callback(self._connection.close)
            for sql in setup:
                self._run(sql)
            self._statement = adbc.AdbcStatement(self._connection)
            opened.callback(self._statement.close)
            if options:
                self._statement.set_options(**options)
            self._statement.set_sql_query(query)
            opened.pop_all()  # all went well: `close` closes them
        self._batch = batch
        self._after = (period[0], 0)  # (received_at, id): from the start
        self._end = period[1]

    def _run(self, sql: str) -> None:
        statement = adbc.AdbcStatement(self._connection)
        try:
            statement.set_sql_query(sql)
            statement.execute_update()
        finally:
            statement.close()

    def read(self) -> pl.DataFrame | None:
        """The next batch of `_FRAMES`' rows; None after the last."""
        after_time, after_id = self._after
        parameters = pl.DataFrame(
            {
                "after_time": [after_time],
                "after_id": [after_id],
                "end": [self._end],
                "rows": [self._batch],
            }
        )
        self._statement.bind_stream(parameters)
        stream, _rows = self._statement.execute_query()
        rows = pl.DataFrame(stream)
        if not rows.height:
            return None
        self._after = (rows["received_at"][-1], rows["id"][-1])
        return rows

    def close(self) -> None:
        self._statement.close()
        self._connection.close()
        self._database.close()


# The query of `reporting.reading.batch_query`, with the handlers from the timeline and
# the referrals as text (`reporting.reading.referrals_text`). Each
# batch is a query of its own, read whole into one Arrow batch: the SQLite driver gives a
# column the type of its values in the batch (an integer type when all are NULL, which
# `_as_case_columns` casts; times stay SQLite's text), the PostgreSQL driver that of its
# SQL type. SQLite takes `$1` as a parameter's name and numbers the names in the order
# they first appear, which is their order in the query.
_FRAMES = {
    database: batch_query(database, ("$1", "$2", "$3", "$4"), HANDLERS, referrals_text(database))
    for database in ("sqlite", "postgresql")
}


def _sqlite_time(moment: datetime) -> str:
    """`moment` as SQLite holds it (`storage.types.UTCDateTime`): UTC, no offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# The same for polars: always six digits of microseconds (SQLAlchemy's SQLite format),
# parsed as a fixed width, five times as fast as with a variable fraction.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%6f"


def _as_case_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """A batch of `_FRAMES`' rows made the columns of `CASE_SCHEMA`."""

    def column(name: str, kind: pl.DataType) -> pl.Expr:
        if kind == UTC_TIME and isinstance(frame.schema[name], pl.Datetime):
            return pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        value = pl.col(name).cast(pl.String if kind == UTC_TIME else kind)
        if kind == UTC_TIME:  # SQLite's text; no cache: nearly every time is different
            return value.str.to_datetime(_SQLITE_TIME, time_unit="us", time_zone="UTC", cache=False)
        return value

    # Each handler once, in the order they took the case, the current one last.
    events_then_current = pl.concat_list(pl.col("handlers").str.split("\x1f"), pl.col("handler"))
    handlers = events_then_current.list.eval(pl.element().filter(pl.element() != "")).list.unique(
        maintain_order=True
    )
    made = {"handlers": handlers, "referrals": _referrals()}
    return frame.select(
        made.get(name, column(name, kind)).alias(name) for name, kind in CASE_SCHEMA.items()
    )


def _referrals() -> pl.Expr:
    """`reporting.reading.referrals_text` made a list of `REFERRED` per case (an empty
    one for a case never referred)."""
    text = pl.col("referrals").cast(pl.String)
    parts = pl.element().str.split("\x1e")

    def time(at: int) -> pl.Expr:
        value = parts.list.get(at)
        given = pl.when(value != "").then(value)  # '': no time (not answered)
        return given.str.to_datetime(_SQLITE_TIME, time_unit="us", time_zone="UTC", cache=False)

    referral = pl.struct(
        parts.list.get(0).alias("partner"),
        time(1).alias("asked_at"),
        time(2).alias("due_at"),
        time(3).alias("answered_at"),
    )
    none = pl.lit([], pl.List(pl.String))
    split = pl.when(text != "").then(text.str.split("\x1f")).otherwise(none)
    return split.list.eval(referral).cast(pl.List(REFERRED))
