"""The XLSX ledger written by general-purpose libraries, as baselines for `bench.ledger`.

    python -m bench.xlsx_baselines WRITER URL PATH

Each writer gets the very cells the export writes (`ledger_cases` → `ledger_row` →
`LedgerSheet.cells`, zh_CN, Asia/Shanghai, Chinese working days), in one process: the
header in bold, times as date-times shown as `yyyy-mm-dd hh:mm:ss`, the header row and
the first column frozen, and a second sheet saying what the file holds. WRITER is

- `own`: `reporting.xlsx`, this project's streaming writer (the command itself writes
  half of a big ledger in a second process; this is one process, as the others);
- `xlsxwriter`: XlsxWriter in its `constant_memory` mode (each row written out once
  the next begins, text as inline strings);
- `rustpy`: rustpy-xlsxwriter (Rust's rust_xlsxwriter), fed the rows as a generator
  of dicts, in its default constant-memory mode.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reporting.reading import ledger_cases
from reporting.rows import Cell, LedgerCase, LedgerSheet, ledger_row
from reporting.xlsx import xlsx_book
from scheduler.calendar import build_calendar
from storage.database import create_engine

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 5, 1, tzinfo=ZONE)
END = datetime(2026, 12, 1, tzinfo=ZONE)
NOW = datetime(2026, 12, 1, tzinfo=ZONE)
BATCH = 5000


def rows(url: str, sheet: LedgerSheet) -> Iterator[list[Cell]]:
    """The ledger's rows, read a batch at a time on an event loop of their own (the
    libraries take a plain iterator)."""
    calendar = build_calendar("cn-workdays", ZONE)
    loop = asyncio.new_event_loop()
    engine = create_engine(url)
    cases = ledger_cases(engine, START, END)

    async def batch(cases: AsyncIterator[LedgerCase]) -> list[LedgerCase]:
        found = []
        async for case in cases:
            found.append(case)
            if len(found) == BATCH:
                break
        return found

    try:
        while found := loop.run_until_complete(batch(cases)):
            for case in found:
                yield sheet.cells(ledger_row(case, calendar, NOW))
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


def write_own(url: str, path: Path, sheet: LedgerSheet) -> int:
    written = 0
    headers = sheet.headers()
    with xlsx_book(path) as book:
        with book.sheet("台账", len(headers), width=20.7109375, frozen=True) as out:
            out.row(list[Cell](headers), bold_columns=len(headers))
            for cells in rows(url, sheet):
                out.row(cells)
                written += 1
        with book.sheet("About", columns=2, width=30.7109375) as about:
            for label, value in _about(sheet, written):
                about.row([label, value], bold_columns=1)
    return written


def write_xlsxwriter(url: str, path: Path, sheet: LedgerSheet) -> int:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    bold = book.add_format({"bold": True})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    out = book.add_worksheet("台账")
    headers = sheet.headers()
    out.set_column(0, len(headers) - 1, 20)
    out.freeze_panes(1, 1)
    out.write_row(0, 0, headers, bold)
    number = 0
    for number, cells in enumerate(rows(url, sheet), 1):
        for column, cell in enumerate(cells):
            if cell is None:
                continue
            if isinstance(cell, str):
                out.write_string(number, column, cell)
            elif isinstance(cell, datetime):
                out.write_datetime(number, column, cell, moment)
            else:
                out.write_number(number, column, cell)
    about = book.add_worksheet("About")
    about.set_column(0, 1, 30)
    for line, (label, value) in enumerate(_about(sheet, number)):
        about.write_string(line, 0, label, bold)
        about.write_string(line, 1, value)
    book.close()
    return number


def write_rustpy(url: str, path: Path, sheet: LedgerSheet) -> int:
    from rustpy_xlsxwriter import FastExcel

    headers = sheet.headers()
    written = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal written
        for cells in rows(url, sheet):
            written += 1
            yield dict(zip(headers, cells, strict=True))

    def about() -> Iterator[dict[str, Any]]:
        # A generator too: read once the ledger's rows are written and counted.
        for label, value in _about(sheet, written):
            yield {"": label, " ": value}

    (
        FastExcel(str(path))
        .format(datetime_format="yyyy-mm-dd hh:mm:ss", bold_headers=True)
        .freeze(row=1, col=1, sheet="台账")
        .sheet("台账", records(), column_width=20)
        .sheet("About", about(), column_width=30)
        .save()
    )
    return written


def _about(sheet: LedgerSheet, cases: int) -> list[tuple[str, str]]:
    return sheet.about(date(2026, 5, 1), date(2026, 11, 30), cases, NOW)


WRITERS = {"own": write_own, "xlsxwriter": write_xlsxwriter, "rustpy": write_rustpy}


def main(argv: list[str]) -> None:
    writer, url, path = argv
    sheet = LedgerSheet("zh_CN", ZONE)
    written = WRITERS[writer](url, Path(path), sheet)
    print(f"{written} rows", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
