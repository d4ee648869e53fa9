"""The ledger's cases as columns (`bot.ledger_columns.CASE_SCHEMA`), a batch at a time,
for a CSV ledger of a million cases: what `storage.ledger.ledger_cases` gives, without a
Python object per value on SQLite.

A module of its own, imported only by the CSV export: polars and Arrow cost the process
some 100 MB that the XLSX export, its second process and the report do without.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import adbc_driver_manager as adbc
import adbc_driver_sqlite as adbc_sqlite
import polars as pl
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ledger import LedgerCase
from bot.ledger_columns import CASE_SCHEMA, UTC_TIME, VERIFIED, case_frame
from storage.ledger import ledger_cases

BATCH = 10_000


async def ledger_frames(
    engine: AsyncEngine, start: datetime, end: datetime, batch: int = BATCH
) -> AsyncIterator[pl.DataFrame]:
    """Every case received in [start, end), oldest first, `batch` at a time as columns
    (`bot.ledger_columns.CASE_SCHEMA`): what `ledger_cases` gives, for a big CSV.

    On SQLite the rows come straight into Arrow columns through the ADBC driver, without
    a Python object per value (`_SqliteReader`). Elsewhere they are the `LedgerCase`s of
    `ledger_cases`, made columns.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        cases: list[LedgerCase] = []
        async for case in ledger_cases(engine, start, end):
            cases.append(case)
            if len(cases) == batch:
                yield case_frame(cases)
                cases = []
        if cases:
            yield case_frame(cases)
        return
    reader = await asyncio.to_thread(_SqliteReader, database, (start, end), batch)
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


class _SqliteReader:
    """The cases received in a period, a batch at a time, each batch one query for the
    cases after the last one of the batch before (by received_at, then id), all in one
    read transaction: one snapshot of the database, which under WAL keeps no writer
    waiting.

    The driver's own statement API, not its DB-API module: the batch comes as an Arrow
    stream that polars takes as it is, and the process does without pyarrow (40 MB)."""

    def __init__(self, database: str, period: tuple[datetime, datetime], batch: int) -> None:
        self._database = adbc_sqlite.connect(database)
        self._connection = adbc.AdbcConnection(self._database)
        self._connection.set_autocommit(False)
        self._statement = adbc.AdbcStatement(self._connection)
        # The whole batch in one Arrow batch (the driver's default is 1024 rows).
        self._statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch)})
        self._statement.set_sql_query(_SQLITE_FRAMES)
        self._batch = batch
        self._after = (_sqlite_time(period[0]), 0)  # (received_at, id): from the start
        self._end = _sqlite_time(period[1])

    def read(self) -> pl.DataFrame | None:
        """The next batch of `_SQLITE_FRAMES`; None after the last."""
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
        self._connection.rollback()
        self._connection.close()
        self._database.close()


# Each batch is a query of its own, read whole into one Arrow batch: the ADBC driver
# gives a column the type of its values in the batch (an integer type when all are NULL,
# which `_as_case_columns` casts). Times stay SQLite's text, parsed by polars.
_SQLITE_FRAMES = """
SELECT
  c.id,
  c.case_no,
  c.received_at,
  c.channel,
  c.contact_name AS name,
  c.contact_phone AS phone,
  c.contact_email AS email,
  c.category,
  c.subject,
  c.description,
  c.expectation,
  coalesce((
    SELECT group_concat(json_extract(e.payload, '$.handler'), char(31) ORDER BY e.seq)
    FROM timeline_events AS e
    WHERE e.case_id = c.id AND e.kind IN ('claimed', 'assigned')
  ), '') AS handlers,
  coalesce(a.name, '') AS handler,
  c.receipt_due_at,
  c.receipt_sent_at,
  c.response_due_at,
  c.first_response_at,
  c.resolution_due_at,
  c.resolved_at,
  CAST(json_extract(c.verification, '$.facts') AS TEXT) AS facts,
  CAST(json_extract(c.verification, '$.nature') AS TEXT) AS nature,
  CAST(json_extract(c.verification, '$.responsibility') AS TEXT) AS responsibility,
  CAST(json_extract(c.verification, '$.severity') AS TEXT) AS severity,
  c.resolution,
  c.reopened_count,
  s.asked_at AS survey_asked_at,
  s.answered_at AS survey_answered_at,
  s.score AS survey_score,
  s.outcome AS survey_outcome,
  c.status
FROM cases AS c
LEFT JOIN agents AS a ON a.id = c.handler_id
LEFT JOIN surveys AS s
  ON s.case_id = c.id
  AND s.round = (SELECT max(t.round) FROM surveys AS t WHERE t.case_id = c.id)
WHERE (c.received_at, c.id) > (?, ?) AND c.received_at < ?
ORDER BY c.received_at, c.id
LIMIT ?
"""


def _sqlite_time(moment: datetime) -> str:
    """`moment` as SQLite holds it (`storage.types.UTCDateTime`): UTC, no offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# The same for polars: always six digits of microseconds (SQLAlchemy's SQLite format),
# parsed as a fixed width, five times as fast as with a variable fraction.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%6f"


def _as_case_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """A batch of `_SQLITE_FRAMES` made the columns of `CASE_SCHEMA`."""

    def column(name: str, kind: pl.DataType) -> pl.Expr:
        value = pl.col(name).cast(pl.String if kind == UTC_TIME else kind)
        if kind == UTC_TIME:
            # No cache: nearly every time is different.
            return value.str.to_datetime(_SQLITE_TIME, time_unit="us", time_zone="UTC", cache=False)
        if name in _OPTIONAL_TEXT:  # as `case_frame` has them: '' is no value
            return pl.when(value != "").then(value)
        return value

    # Each handler once, in the order they took the case, the current one last.
    events_then_current = pl.concat_list(pl.col("handlers").str.split("\x1f"), pl.col("handler"))
    handlers = events_then_current.list.eval(pl.element().filter(pl.element() != "")).list.unique(
        maintain_order=True
    )
    return frame.select(
        (handlers if name == "handlers" else column(name, kind)).alias(name)
        for name, kind in CASE_SCHEMA.items()
    )


_OPTIONAL_TEXT = (
    "phone",
    "email",
    *VERIFIED,
    "resolution",
    "survey_outcome",
)
