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
from typing import Any

import adbc_driver_sqlite.dbapi as adbc_sqlite
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
    a Python object per value, in one read (its snapshot, under WAL, keeps no writer
    waiting). Elsewhere they are the `LedgerCase`s of `ledger_cases`, made columns.
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
    connection = await asyncio.to_thread(adbc_sqlite.connect, database)
    upcoming: asyncio.Future[Any] | None = None
    try:
        cursor = connection.cursor()
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch)})
        await asyncio.to_thread(
            cursor.execute, _SQLITE_FRAMES, (_sqlite_time(start), _sqlite_time(end))
        )
        reader = cursor.fetch_record_batch()
        # The next batch is read in a thread (the driver lets go of the interpreter) while
        # the caller turns this one into cells on the other core.
        # (Handed to the thread now: a task would only start at the caller's next await.)
        loop = asyncio.get_running_loop()
        upcoming = loop.run_in_executor(None, _next_batch, reader)
        while (columns := await upcoming) is not None:
            upcoming = loop.run_in_executor(None, _next_batch, reader)
            yield _from_sqlite_text(pl.from_arrow(columns))
    finally:
        if upcoming is not None:
            await asyncio.wait([upcoming])  # the thread still reads: let it end first
        await asyncio.to_thread(connection.close)


# Every value but the two integers comes as text, NULL as '': the ADBC driver gives a
# column the type of the values in its first batch, and a later batch with another type
# (a score after a batch of unanswered surveys) would be an error.
_SQLITE_FRAMES = """
SELECT
  c.case_no,
  c.received_at,
  c.channel,
  c.contact_name AS name,
  coalesce(c.contact_phone, '') AS phone,
  coalesce(c.contact_email, '') AS email,
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
  coalesce(c.receipt_due_at, '') AS receipt_due_at,
  coalesce(c.receipt_sent_at, '') AS receipt_sent_at,
  coalesce(c.response_due_at, '') AS response_due_at,
  coalesce(c.first_response_at, '') AS first_response_at,
  coalesce(c.resolution_due_at, '') AS resolution_due_at,
  coalesce(c.resolved_at, '') AS resolved_at,
  coalesce(CAST(json_extract(c.verification, '$.facts') AS TEXT), '') AS facts,
  coalesce(CAST(json_extract(c.verification, '$.nature') AS TEXT), '') AS nature,
  coalesce(CAST(json_extract(c.verification, '$.responsibility') AS TEXT), '')
    AS responsibility,
  coalesce(CAST(json_extract(c.verification, '$.severity') AS TEXT), '') AS severity,
  coalesce(c.resolution, '') AS resolution,
  c.reopened_count,
  coalesce(s.asked_at, '') AS survey_asked_at,
  coalesce(s.answered_at, '') AS survey_answered_at,
  coalesce(CAST(s.score AS TEXT), '') AS survey_score,
  coalesce(s.outcome, '') AS survey_outcome,
  c.status
FROM cases AS c
LEFT JOIN agents AS a ON a.id = c.handler_id
LEFT JOIN surveys AS s
  ON s.case_id = c.id
  AND s.round = (SELECT max(t.round) FROM surveys AS t WHERE t.case_id = c.id)
WHERE c.received_at >= ? AND c.received_at < ?
ORDER BY c.received_at, c.id
"""


def _sqlite_time(moment: datetime) -> str:
    """`moment` as SQLite holds it (`storage.types.UTCDateTime`): UTC, no offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _next_batch(reader: Any) -> Any:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _from_sqlite_text(frame: pl.DataFrame) -> pl.DataFrame:
    """`_SQLITE_FRAMES`'s text made the columns of `CASE_SCHEMA` ('' is NULL)."""

    def value(name: str) -> pl.Expr:
        column = pl.col(name)
        return pl.when(column != "").then(column)

    events_then_current = pl.concat_list(pl.col("handlers").str.split("\x1f"), pl.col("handler"))
    return frame.with_columns(
        *(
            value(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC")
            for name, kind in CASE_SCHEMA.items()
            if kind == UTC_TIME
        ),
        *(value(name) for name in _OPTIONAL_TEXT),
        value("survey_score").cast(pl.Int64),
        # Each handler once, in the order they took the case, the current one last.
        events_then_current.list.eval(pl.element().filter(pl.element() != ""))
        .list.unique(maintain_order=True)
        .alias("handlers"),
    ).select(list(CASE_SCHEMA))


_OPTIONAL_TEXT = (
    "phone",
    "email",
    *VERIFIED,
    "resolution",
    "survey_outcome",
)
