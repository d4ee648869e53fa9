"""A streaming XLSX writer: rows go straight into the compressed file, memory stays flat.

Just the part of Office Open XML the ledger needs: sheets of text, numbers and date-times,
a bold style, one column width per sheet and a frozen header. Each sheet's XML is written
into its entry of the ZIP file as its rows come, text as inline strings (no shared-string
table to hold in memory), with a fast compression level; the small parts that list the
sheets and styles are written when the book is closed. A million rows take a fraction of
what a general-purpose library needs for the same cells.

Text is escaped as Excel does it: XML's `& < >`, control characters as `_xHHHH_` (and
a literal `_xHHHH_` as `_x005F_xHHHH_`, so it reads back as written); characters XML
cannot hold at all (lone surrogates) are dropped. Date-times are Excel serial numbers in
a `yyyy-mm-dd hh:mm:ss` style, so spreadsheets show and sort them as dates.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr

Cell = str | int | float | datetime | None

# Excel's day 1 is 1900-01-01 and it counts a 29 February 1900 that never was: from
# March 1900 on, a day's number is its distance from 1899-12-30.
_EXCEL_EPOCH = datetime(1899, 12, 30)
# Anything that needs more than writing the text as it is.
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]|_x[0-9a-fA-F]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_EXCEL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def column_name(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def text(value: str) -> str:
    """`value` as the content of an XML element, escaped as Excel escapes it."""
    if not _SPECIAL.search(value):
        return value
    value = _EXCEL_ESCAPE.sub(r"_x005F\1", value)
    value = _SURROGATE.sub("", value)
    value = _CONTROL.sub(lambda match: f"_x{ord(match.group()):04X}_", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _excel_time(moment: datetime) -> float:
    """`moment` in days, as Excel counts them."""
    delta = moment - _EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400


class Sheet:
    """One worksheet being written, a row at a time."""

    def __init__(self, stream: IO[bytes], columns: int, first_row: int = 1) -> None:
        self._stream = stream
        self._columns = [column_name(index) for index in range(columns)]
        self._rows = first_row - 1
        self._pending: list[str] = []

    def row(self, cells: Sequence[Cell], bold_columns: int = 0) -> None:
        """The next row; its first `bold_columns` cells in bold. None leaves a cell empty."""
        self._rows += 1
        number = str(self._rows)
        # Nearly every row has plain text only: one look at all of it for anything to
        # escape, rather than one per cell.
        texts = "\n".join([cell for cell in cells if cell.__class__ is str])
        if bold_columns or _SPECIAL.search(texts):
            xml = self._row(cells, number, bold_columns)
        else:
            xml = self._plain_row(cells, number)
        self._pending.append(xml)
        # Compressed a few hundred rows at a time: fewer, larger calls into zlib.
        if len(self._pending) == 256:
            self.flush()

    def _plain_row(self, cells: Sequence[Cell], number: str) -> str:
        """A row of text without anything to escape, numbers and date-times (none bold).
        Styles are indexes into `_STYLES`' cellXfs: 2 date-time."""
        parts = [f'<row r="{number}">']
        add = parts.append
        for name, cell in zip(self._columns, cells, strict=True):
            kind = cell.__class__
            if kind is str:
                add(
                    f'<c r="{name}{number}" t="inlineStr">'
                    f'<is><t xml:space="preserve">{cell}</t></is></c>'
                )
            elif cell is None:
                continue
            elif isinstance(cell, datetime):
                add(f'<c r="{name}{number}" s="2"><v>{_excel_time(cell):.16G}</v></c>')
            elif isinstance(cell, str):  # a kind of text (an enum's value): the full way
                return self._row(cells, number, 0)
            else:
                add(f'<c r="{name}{number}"><v>{cell:.16G}</v></c>')
        add("</row>")
        return "".join(parts)

    def _row(self, cells: Sequence[Cell], number: str, bold_columns: int) -> str:
        """Any row. Styles are indexes into `_STYLES`' cellXfs: 1 bold, 2 date-time."""
        parts = [f'<row r="{number}">']
        add = parts.append
        for column, (name, cell) in enumerate(zip(self._columns, cells, strict=True)):
            if cell is None:
                continue
            if isinstance(cell, str):
                if _SPECIAL.search(cell):
                    cell = text(cell)
                style = ' s="1"' if column < bold_columns else ""
                add(
                    f'<c r="{name}{number}"{style} t="inlineStr">'
                    f'<is><t xml:space="preserve">{cell}</t></is></c>'
                )
            elif isinstance(cell, datetime):
                add(f'<c r="{name}{number}" s="2"><v>{_excel_time(cell):.16G}</v></c>')
            else:
                add(f'<c r="{name}{number}"><v>{cell:.16G}</v></c>')
        add("</row>")
        return "".join(parts)

    def append(self, rows: IO[bytes]) -> None:
        """The rows another `Sheet` wrote to a plain file, numbered to follow this one's,
        last: this sheet's count of rows does not include them."""
        self.flush()
        shutil.copyfileobj(rows, self._stream, 1 << 20)

    def flush(self) -> None:
        """Writes the rows held back."""
        self._stream.write("".join(self._pending).encode())
        self._pending.clear()


class Book:
    """An XLSX file being written, one sheet after another."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        self._titles: list[str] = []

    @contextmanager
    def sheet(
        self, title: str, columns: int, width: float, frozen: bool = False
    ) -> Iterator[Sheet]:
        """A sheet of `columns` columns `width` characters wide; `frozen` keeps the first
        row and column in view while scrolling."""
        self._titles.append(title)
        number = len(self._titles)
        selected = ' tabSelected="1"' if number == 1 else ""
        pane = (
            '<pane xSplit="1" ySplit="1" topLeftCell="B2" activePane="bottomRight" '
            'state="frozen"/><selection pane="bottomRight" activeCell="B2" sqref="B2"/>'
            if frozen
            else ""
        )
        # A million rows are more than the 2 GiB a ZIP entry holds without the ZIP64 fields.
        entry = f"xl/worksheets/sheet{number}.xml"
        with self._archive.open(entry, "w", force_zip64=True) as stream:
            stream.write(
                (
                    f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIPS}">'
                    f'<sheetViews><sheetView{selected} workbookViewId="0">{pane}</sheetView>'
                    '</sheetViews><sheetFormatPr defaultRowHeight="15"/>'
                    f'<cols><col min="1" max="{columns}" width="{width}" customWidth="1"/></cols>'
                    "<sheetData>"
                ).encode()
            )
            sheet = Sheet(stream, columns)
            yield sheet
            sheet.flush()
            stream.write(b"</sheetData></worksheet>")

    def _close(self) -> None:
        sheets = "".join(
            f'<sheet name={quoteattr(title)} sheetId="{n}" r:id="rId{n}"/>'
            for n, title in enumerate(self._titles, 1)
        )
        relations = "".join(
            f'<Relationship Id="rId{n}" Type="{_RELATIONSHIPS}/worksheet" '
            f'Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(self._titles) + 1)
        )
        styles_id = len(self._titles) + 1
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for n in range(1, len(self._titles) + 1)
        )
        parts = {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                f"{overrides}</Types>"
            ),
            "_rels/.rels": (
                f'<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">'
                f'<Relationship Id="rId1" Type="{_RELATIONSHIPS}/officeDocument" '
                'Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIPS}">'
                f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets>'
                "</workbook>"
            ),
            "xl/_rels/workbook.xml.rels": (
                f'<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">{relations}'
                f'<Relationship Id="rId{styles_id}" Type="{_RELATIONSHIPS}/styles" '
                'Target="styles.xml"/></Relationships>'
            ),
            "xl/styles.xml": _STYLES,
        }
        for name, xml in parts.items():
            self._archive.writestr(name, _HEAD + xml)


# Three cell styles: plain, bold (1) and date-time (2).
_STYLES = (
    f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


@contextmanager
def xlsx_book(path: Path) -> Iterator[Book]:
    """A book written to `path`; complete once the block ends without an error."""
    # The fastest compression: the rows are most of the time, and the file is still small.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        book = Book(archive)
        yield book
        book._close()
