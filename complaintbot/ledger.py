"""`complaintbot ledger export`: the ledger of a period written as CSV or XLSX, streamed.

Rows go to the file as they come from the database, so memory stays flat for any number
of cases: the CSV writer holds one row, the XLSX writer (`complaintbot.xlsx`) a few
hundred, compressing them into the file's sheet as it goes.
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

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.calendar import Calendar
from bot.ledger import Cell, LedgerSheet, ledger_row
from complaintbot.xlsx import Sheet, xlsx_book
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
    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.next = 0
        self.about_lines: list[tuple[str, str]] = []

    def row(self, cells: list[Cell]) -> None:
        self.sheet.row(cells, bold_columns=len(cells) if self.next == 0 else 0)
        self.next += 1

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
