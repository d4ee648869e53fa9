"""`complaintbot ledger export`: the ledger of a period written as CSV or XLSX, streamed.

Rows go to the file as they come from the database, so memory stays flat for any number
of cases: the CSV writer holds a batch of cases as columns (`reporting.columns`), the
XLSX writer (`reporting.xlsx`) a few hundred rows, compressing them into the file's
sheet as it goes.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.reading import count_cases, ledger_cases, split_point
from reporting.rows import Cell, LedgerCase, LedgerSheet, ledger_row
from reporting.second_process import SPLIT_FROM, SecondProcess
from reporting.xlsx import Sheet, xlsx_book
from scheduler.calendar import Calendar
from storage.database import create_engine

if TYPE_CHECKING:
    import polars as pl

# What starts a CSV cell a spreadsheet would run as a formula. XLSX cells are typed and
# need no guard.
_FORMULA_START = r"^[=+\-@\t\r]"


class LedgerFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@dataclass(frozen=True, slots=True)
class Period:
    """Local days, both included, in the ledger's time zone."""

    first: date
    last: date

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as [start, end) moments."""
        start = datetime.combine(self.first, time(), tzinfo=zone)
        end = datetime.combine(self.last + timedelta(days=1), time(), tzinfo=zone)
        return start, end


async def export_ledger(
    engine: AsyncEngine,
    path: Path,
    kind: LedgerFormat,
    sheet: LedgerSheet,
    calendar: Calendar,
    period: Period,
    now: datetime,
    total: int,
    progress: Callable[[int], None] = lambda _rows: None,
    split_from: int = SPLIT_FROM,
    *,
    long_running: bool = False,
) -> int:
    """Writes the ledger of `period` to `path`; returns the number of cases written.
    `total` is the period's cases as `count_cases` gives them (the caller counts them
    first, for its progress bar). `progress` is told how many rows were written since
    it was last told. From `split_from` cases on, a second process writes the later half.
    A `long_running` process (the staff web) keeps other SQLite connections open all
    the while: its CSV is read without the ADBC driver (see `reporting.frames`)."""
    start, end = period.bounds(sheet.zone)
    if kind is LedgerFormat.CSV:
        return await _write_csv(
            engine, path, sheet, calendar, (start, end), now, progress, long_running
        )
    middle = await split_point(engine, start, end, total, split_from)
    with _xlsx(path, sheet) as writer, fewer_collections():
        writer.header(sheet.headers())
        if middle is None:
            cases = ledger_cases(engine, start, end)
            written = await _write_rows(writer, cases, sheet, calendar, now, progress)
        else:
            first_half = await count_cases(engine, start, middle)
            with _part_file(path) as part:
                later = _Part(
                    url=engine.url.render_as_string(hide_password=False),
                    sheet=sheet,
                    calendar=calendar,
                    start=middle,
                    end=end,
                    now=now,
                    path=part,
                    first_row=first_half + 2,  # after the header and the first half
                )
                with SecondProcess(_part_rows, later) as other:
                    cases = ledger_cases(engine, start, middle)
                    # The progress bar counts the rows of both processes.
                    written = await _write_rows(
                        writer,
                        cases,
                        sheet,
                        calendar,
                        now,
                        lambda rows: progress(rows + other.news()),
                    )
                    written += await other.finish(progress)
                writer.append(part)
        writer.about(sheet.about(period.first, period.last, written, now))
    return written


async def _write_csv(
    engine: AsyncEngine,
    path: Path,
    sheet: LedgerSheet,
    calendar: Calendar,
    period: tuple[datetime, datetime],
    now: datetime,
    progress: Callable[[int], None],
    long_running: bool,
) -> int:
    """The CSV ledger, a batch of cases at a time as columns."""
    # Here: polars is for the CSV alone (see `reporting.frames`).
    from reporting.columns import ledger_cells
    from reporting.frames import ledger_frames

    unguarded = sheet.unguarded_headers()
    written = 0
    with path.open("wb") as stream:
        header = io.StringIO()
        csv.writer(header).writerow(sheet.headers())
        # UTF-8 with a byte order mark: Excel then reads the Chinese text correctly.
        stream.write(header.getvalue().encode("utf-8-sig"))
        async for cases in ledger_frames(engine, *period, adbc_sqlite=not long_running):
            cells = ledger_cells(cases, sheet, calendar, now)
            _as_csv_text(cells, unguarded).write_csv(
                stream, include_header=False, line_terminator="\r\n"
            )
            written += cases.height
            progress(cases.height)
    return written


def _as_csv_text(cells: pl.DataFrame, unguarded: list[str]) -> pl.DataFrame:
    """Text a spreadsheet would run as a formula (CSV injection) gets a leading
    apostrophe, which spreadsheets show as text; empty text is written as nothing, as the
    csv module writes it (polars would write ""). Figures and times are left as they are:
    "-0.5" stays a number."""
    import polars as pl

    def guarded(name: str) -> pl.Expr:
        column = pl.col(name)
        if name in unguarded:
            return column
        return pl.when(column.str.contains(_FORMULA_START)).then("'" + column).otherwise(column)

    text = [name for name, kind in cells.schema.items() if kind == pl.String]
    return cells.with_columns(
        pl.when(pl.col(name) != "").then(guarded(name)).alias(name) for name in text
    )


async def _write_rows(
    writer: _XlsxWriter,
    cases: AsyncIterator[LedgerCase],
    sheet: LedgerSheet,
    calendar: Calendar,
    now: datetime,
    progress: Callable[[int], None],
) -> int:
    written = told = 0
    async for case in cases:
        writer.row(sheet.cells(ledger_row(case, calendar, now)))
        written += 1
        if written - told == 1000:
            progress(written - told)
            told = written
    progress(written - told)
    return written


@dataclass(frozen=True, slots=True)
class _Part:
    """The cases received in [start, end), for another process to write to the part file
    `path` (then appended to the sheet); `first_row` is the number of the part's first
    row in the sheet."""

    url: str
    sheet: LedgerSheet
    calendar: Calendar
    start: datetime
    end: datetime
    now: datetime
    path: Path
    first_row: int


@contextmanager
def _part_file(path: Path) -> Iterator[Path]:
    """A hidden file beside `path` for the second process's rows, removed afterwards."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    part = Path(name)
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)


async def _part_rows(job: _Part, count: Callable[[int], None]) -> int:
    """The second process's work: the job's rows written to its part file."""
    engine = create_engine(job.url)
    opened = _xlsx_rows(job.path, len(job.sheet.headers()), job.first_row)
    try:
        with opened as writer, fewer_collections():
            cases = ledger_cases(engine, job.start, job.end)
            return await _write_rows(writer, cases, job.sheet, job.calendar, job.now, count)
    finally:
        await engine.dispose()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The garbage collector run a hundredth as often while many rows are made.

    Every batch of cases lives through hundreds of young-generation collections, each of
    which looks at all of the batch again (and moves it on to older generations, which
    are then collected whole): a tenth of the export's time. Its objects hold no
    reference cycles, so collecting less often frees nothing later that it would free now.
    """
    young, *older = gc.get_threshold()
    gc.set_threshold(young * 100, *older)
    try:
        yield
    finally:
        gc.set_threshold(young, *older)


class _XlsxWriter:
    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.about_lines: list[tuple[str, str]] = []

    def header(self, cells: list[str]) -> None:
        self.sheet.row(list[Cell](cells), bold_columns=len(cells))

    def row(self, cells: list[Cell]) -> None:
        self.sheet.row(cells)

    def append(self, part: Path) -> None:
        """Rows another writer wrote to `part` (with `_xlsx_rows`)."""
        with part.open("rb") as rows:
            self.sheet.append(rows)

    def about(self, lines: list[tuple[str, str]]) -> None:
        """Kept for the second sheet, written once the ledger's is complete."""
        self.about_lines = lines


@contextmanager
def _xlsx(path: Path, sheet: LedgerSheet) -> Iterator[_XlsxWriter]:
    _ = sheet.tr.gettext
    with xlsx_book(path) as book:
        # 20.7109375 and 30.7109375: what 20 and 30 characters come out as in Excel.
        columns = len(sheet.headers())
        with book.sheet(_("Ledger"), columns, width=20.7109375, frozen=True) as rows:
            writer = _XlsxWriter(rows)
            yield writer
        with book.sheet(_("About this export"), columns=2, width=30.7109375) as about:
            for label, value in writer.about_lines:
                about.row([label, value], bold_columns=1)


@contextmanager
def _xlsx_rows(path: Path, columns: int, first_row: int) -> Iterator[_XlsxWriter]:
    """Rows alone, as plain XML, to be appended to a sheet by `_XlsxWriter.append`."""
    with path.open("wb") as stream:
        rows = Sheet(stream, columns, first_row)
        yield _XlsxWriter(rows)
        rows.flush()
