"""`complaintbot ledger export`: the ledger of a period written as CSV or XLSX, streamed.

Rows go to the file as they come from the database, so memory stays flat for any number
of cases: the CSV writer holds one row, xlsxwriter's `constant_memory` mode flushes each
row to disk as soon as the next begins.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter
from sqlalchemy.ext.asyncio import AsyncEngine
from xlsxwriter.exceptions import FileCreateError

from bot.calendar import Calendar
from bot.ledger import Cell, LedgerSheet, ledger_row
from storage.ledger import ledger_cases

# A CSV cell a spreadsheet would run as a formula (CSV injection) gets a leading
# apostrophe, which spreadsheets show as text. XLSX cells are typed and need none.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    progress: Callable[[int], None] = lambda _rows: None,
) -> int:
    """Writes the ledger of `period` to `path`; returns the number of cases written.
    `progress` is told how many rows were written since it was last told."""
    start, end = period.bounds(sheet.zone)
    opened: AbstractContextManager[_CsvWriter | _XlsxWriter]
    opened = _csv(path) if kind is LedgerFormat.CSV else _xlsx(path, sheet)
    written = told = 0
    with opened as writer:
        writer.row(list[Cell](sheet.headers()))
        async for case in ledger_cases(engine, start, end):
            writer.row(sheet.cells(ledger_row(case, calendar, now)))
            written += 1
            if written - told == 1000:
                progress(written - told)
                told = written
        progress(written - told)
        if isinstance(writer, _XlsxWriter):
            writer.about(sheet.about(period.first, period.last, written, now))
    return written


class _CsvWriter:
    def __init__(self, stream: Any) -> None:
        self.csv = csv.writer(stream)

    def row(self, cells: list[Cell]) -> None:
        # Inline rather than a call per cell; the csv module writes None as "" and numbers
        # as `str` gives them.
        self.csv.writerow(
            [
                ("'" + cell if cell.startswith(_FORMULA_STARTS) else cell)
                if cell.__class__ is str
                else cell.isoformat(" ")  # to the second: `LedgerSheet` drops the microseconds
                if cell.__class__ is datetime
                else cell
                for cell in cells
            ]
        )


@contextmanager
def _csv(path: Path) -> Iterator[_CsvWriter]:
    # UTF-8 with a byte order mark: Excel then reads the Chinese text correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        yield _CsvWriter(stream)


class _XlsxWriter:
    def __init__(self, book: Any, title: str, about_title: str) -> None:
        self.book = book
        self.sheet = book.add_worksheet(title)
        self.about_sheet = book.add_worksheet(about_title)
        self.bold = book.add_format({"bold": True})
        self.moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.next = 0

    def row(self, cells: list[Cell]) -> None:
        sheet, number = self.sheet, self.next
        for column, cell in enumerate(cells):
            if cell is None:
                continue
            if isinstance(cell, str):
                sheet.write_string(number, column, cell, self.bold if number == 0 else None)
            elif isinstance(cell, datetime):
                sheet.write_datetime(number, column, cell, self.moment)
            else:
                sheet.write_number(number, column, cell)
        self.next += 1

    def about(self, lines: list[tuple[str, str]]) -> None:
        for number, (label, value) in enumerate(lines):
            self.about_sheet.write_string(number, 0, label, self.bold)
            self.about_sheet.write_string(number, 1, value)


@contextmanager
def _xlsx(path: Path, sheet: LedgerSheet) -> Iterator[_XlsxWriter]:
    _ = sheet.tr.gettext
    book = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        writer = _XlsxWriter(book, _("Ledger"), _("About this export"))
        writer.sheet.freeze_panes(1, 1)
        writer.sheet.set_column(0, len(sheet.headers()) - 1, 20)
        writer.about_sheet.set_column(0, 1, 30)
        yield writer
    finally:
        try:
            book.close()
        except FileCreateError as error:
            raise OSError(str(error)) from None
