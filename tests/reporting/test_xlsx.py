"""The streaming XLSX writer, read back with openpyxl as a spreadsheet would read it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl

from reporting.xlsx import column_name, text, xlsx_book


def test_cells_keep_their_types_styles_and_text(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    tricky = "a < b & c > d\nline two\ttab\x01bell _x0041_ \ud800lone 表 "
    with xlsx_book(path) as book:
        with book.sheet("Ledger 台账", columns=5, width=20.7109375, frozen=True) as sheet:
            sheet.row(["Case", "When", "Minutes", "Score", "Text"], bold_columns=5)
            sheet.row(["TS-1", datetime(2026, 11, 22, 10, 0, 5), 12.5, 5, tricky])
            sheet.row(["TS-2", None, None, 0, '=HYPERLINK("x")'])
        with book.sheet("About", columns=2, width=30.7109375) as about:
            about.row(["Cases", "2"], bold_columns=1)

    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Ledger 台账", "About"]
    ledger, facts = workbook.worksheets
    assert [cell.value for cell in ledger[1]] == ["Case", "When", "Minutes", "Score", "Text"]
    assert all(cell.font.b for cell in ledger[1])
    case, when, minutes, score, said = ledger[2]
    assert not case.font.b
    assert when.value == datetime(2026, 11, 22, 10, 0, 5) and when.is_date
    assert when.number_format == "yyyy-mm-dd hh:mm:ss"
    assert (minutes.value, score.value) == (12.5, 5) and minutes.data_type == "n"
    # XML holds no control characters: they are escaped as Excel escapes them (and Excel
    # shows them as written; openpyxl shows the escape). A lone surrogate is dropped.
    assert said.value == ("a < b & c > d\nline two\ttab_x0001_bell _x005F_x0041_ lone 表 ")
    formula = ledger.cell(3, 5)
    assert (formula.value, formula.data_type) == ('=HYPERLINK("x")', "s")
    assert ledger.cell(3, 2).value is None and ledger.cell(3, 4).value == 0
    assert ledger.freeze_panes == "B2"
    assert ledger.column_dimensions["A"].width == 20.7109375
    assert [[c.value for c in row] for row in facts.iter_rows()] == [["Cases", "2"]]
    assert facts["A1"].font.b and not facts["B1"].font.b


def test_a_million_rows_do_not_need_a_second_look_at_the_text() -> None:
    assert text("plain 文本") == "plain 文本"
    assert text("<&>") == "&lt;&amp;&gt;"
    assert text("a\x00b") == "a_x0000_b"
    assert text("_x005F_") == "_x005F_x005F_"


def test_column_names() -> None:
    assert [column_name(n) for n in (0, 25, 26, 29, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AD",
        "ZZ",
        "AAA",
    ]
