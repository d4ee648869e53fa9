"""The ledger's columns are declared once (`reporting.layout`): what each names exists,
and the query, the case and the columnar batch all follow the declared fields."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

from reporting import layout
from reporting.columns import CASE_SCHEMA
from reporting.layout import COLUMNS, FIELDS, LedgerCase
from reporting.reading import batch_query
from reporting.rows import LedgerRow, LedgerSheet


def named(cell: layout.Cell) -> set[str]:
    """The fields of `LedgerCase` a cell reads."""
    match cell:
        case layout.Minutes(_figure, since, until) | layout.WorkingHours(_figure, since, until):
            return {since, until}
        case layout.Limit(_outcome, due, done):
            return {due, done}
        case layout.Answer(shown, outcome):
            return named(shown) | {outcome}
        case layout.PartnerDeadlines(_outcomes, referrals):
            return {referrals}
    return {cell.field}  # type: ignore[union-attr]


def test_every_column_reads_fields_the_case_has_and_figures_the_row_has() -> None:
    fields = {field.name for field in dataclasses.fields(LedgerCase)}
    figures = set(LedgerRow.__dataclass_fields__) | {"working_hours_to_resolution"}
    for column in COLUMNS:
        assert named(column.cell) <= fields, column
        match column.cell:
            case (
                layout.Minutes(figure)
                | layout.WorkingHours(figure)
                | layout.Limit(figure)
                | layout.PartnerDeadlines(figure)
            ):
                assert figure in figures, column


def test_the_query_selects_the_declared_fields_in_their_order() -> None:
    query = batch_query("sqlite", ("$1", "$2", "$3", "$4"))
    places = [query.index(f"{field.sql} AS {field.name},") for field in FIELDS if field.sql]
    assert places == sorted(places)
    assert list(CASE_SCHEMA) == [field.name for field in FIELDS]


def test_one_header_per_column_masked_or_not() -> None:
    for masked in (True, False):
        sheet = LedgerSheet("en", ZoneInfo("UTC"), masked=masked)
        headers = sheet.headers()
        assert len(headers) == len(set(headers)) == len(COLUMNS)
        assert ("Phone (masked)" in headers) is masked and ("Phone (full)" in headers) is not masked
        assert "Received at (UTC)" in headers
