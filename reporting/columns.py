"""The ledger as columns: the cells of `LedgerSheet.cells(ledger_row(case))` for a whole
batch of cases at once, with polars, for a CSV file of a million rows.

A row at a time, Python spends some 40 µs on a case's thirty cells, and a million cases
would take minutes on the two cores the export has; column by column the same work is a
few native loops. `reporting.rows` stays the definition (the quality report and the XLSX
ledger are made from its rows); this module must give the same cells, character for
character, which `tests/bot/test_ledger_columns.py` checks case by case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl

from bot.domain import ERASED
from reporting.rows import (
    HUNDREDTH_HOUR,
    TENTH_MINUTE,
    VERIFIED,
    LedgerCase,
    LedgerSheet,
)
from scheduler.calendar import AlwaysOpen, Calendar, WorkdayCalendar
from scheduler.deadlines import Outcome

UTC_TIME = pl.Datetime("us", "UTC")
_DAY = 86_400_000_000  # microseconds
_EPOCH_DAY = date(1970, 1, 1)

# A batch of stored cases: `LedgerCase`'s fields, its verification record as four columns.
CASE_SCHEMA: dict[str, pl.DataType] = {
    "case_no": pl.String(),
    "received_at": UTC_TIME,
    "channel": pl.String(),
    "name": pl.String(),
    "phone": pl.String(),
    "email": pl.String(),
    "category": pl.String(),
    "subject": pl.String(),
    "description": pl.String(),
    "expectation": pl.String(),
    "handlers": pl.List(pl.String()),
    "receipt_due_at": UTC_TIME,
    "receipt_sent_at": UTC_TIME,
    "response_due_at": UTC_TIME,
    "first_response_at": UTC_TIME,
    "resolution_due_at": UTC_TIME,
    "resolved_at": UTC_TIME,
    **{field: pl.String() for field in VERIFIED},
    "resolution": pl.String(),
    "reopened_count": pl.Int64(),
    "survey_asked_at": UTC_TIME,
    "survey_answered_at": UTC_TIME,
    "survey_score": pl.Int64(),
    "survey_outcome": pl.String(),
    "status": pl.String(),
}


def case_frame(cases: Sequence[LedgerCase]) -> pl.DataFrame:
    """`LedgerCase`s as a batch of columns."""
    rows = [
        (
            c.case_no,
            c.received_at,
            c.channel,
            c.name,
            c.phone or None,
            c.email or None,
            c.category,
            c.subject,
            c.description,
            c.expectation,
            list(c.handlers),
            c.receipt_due_at,
            c.receipt_sent_at,
            c.response_due_at,
            c.first_response_at,
            c.resolution_due_at,
            c.resolved_at,
            *(_verified(c.verification, field) for field in VERIFIED),
            c.resolution,
            c.reopened_count,
            c.survey_asked_at,
            c.survey_answered_at,
            c.survey_score,
            c.survey_outcome,
            c.status,
        )
        for c in cases
    ]
    return pl.DataFrame(rows, schema=CASE_SCHEMA, orient="row")


def _verified(record: dict[str, object] | None, field: str) -> str | None:
    value = (record or {}).get(field)
    return str(value) if value else None


def ledger_cells(
    cases: pl.DataFrame, sheet: LedgerSheet, calendar: Calendar, now: datetime
) -> pl.DataFrame:
    """The cells of a batch of cases (`CASE_SCHEMA`), one column per header of `sheet`,
    times as text ("2026-05-01 08:00:00"): what `sheet.with_text_times().cells` gives,
    None where it gives None."""
    zone = sheet.zone.key
    outcomes = {o.value: label for o, label in sheet.outcome_labels.items()}
    no_answer = pl.col("survey_outcome") == "no_answer"

    def local(name: str) -> pl.Expr:
        return pl.col(name).dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M:%S")

    def kept(due: str, done: str) -> pl.Expr:
        return _outcome(pl.col(due), pl.col(done), now).replace_strict(outcomes)

    def given(value: pl.Expr, masked: pl.Expr) -> pl.Expr:
        shown = masked if sheet.masked else value
        return pl.when(value.is_not_null() & (value != "")).then(shown)

    name, phone, email = pl.col("name"), pl.col("phone"), pl.col("email")
    handlers = pl.col("handlers").list.join(", ")
    cells = [
        pl.col("case_no"),
        local("received_at"),
        pl.col("channel").replace(_plain(sheet.channel_labels)),
        _mask_name(name) if sheet.masked else name,
        given(phone, _mask_phone(phone)),
        given(email, _mask_email(email)),
        pl.col("category").replace(_plain(sheet.category_labels)),
        pl.col("subject"),
        pl.col("description"),
        pl.col("expectation"),
        pl.when(handlers != "").then(handlers),
        local("receipt_sent_at"),
        _rounded(_micros("received_at", "receipt_sent_at"), TENTH_MINUTE, 10),
        kept("receipt_due_at", "receipt_sent_at"),
        local("first_response_at"),
        _rounded(_micros("received_at", "first_response_at"), TENTH_MINUTE, 10),
        kept("response_due_at", "first_response_at"),
        local("resolved_at"),
        _rounded(_working_micros(cases, calendar), HUNDREDTH_HOUR, 100),
        kept("resolution_due_at", "resolved_at"),
        *(pl.col(field).replace(_plain(sheet.verification_labels)) for field in VERIFIED),
        pl.col("resolution"),
        pl.col("reopened_count"),
        pl.when(no_answer)
        .then(pl.lit(sheet.no_answer))
        .otherwise(pl.col("survey_score").cast(pl.String)),
        local("survey_asked_at"),
        pl.when(no_answer).then(pl.lit(sheet.no_answer)).otherwise(local("survey_answered_at")),
        pl.col("status").replace(_plain(sheet.status_labels)),
    ]
    headers = sheet.headers()
    return cases.select(cell.alias(header) for cell, header in zip(cells, headers, strict=True))


def _plain(labels: dict[str, str]) -> dict[str, str]:
    # Plain strings: polars would make a mapping of `StrEnum`s an enum type.
    return {str(value): str(label) for value, label in labels.items()}


def _mask_name(name: pl.Expr) -> pl.Expr:
    """`reporting.rows.mask_name`: each character but the first a star."""
    stars = name.str.slice(1).str.replace_all("(?s).", "*")
    return pl.when(name == ERASED).then(name).otherwise(name.str.slice(0, 1) + stars)


def _mask_phone(phone: pl.Expr) -> pl.Expr:
    """`reporting.rows.mask_phone`."""
    length = phone.str.len_chars().cast(pl.Int64)
    short = phone.str.slice(0, (length - 2).clip(0)).str.replace_all("(?s).", "*")
    return (
        pl.when(length <= 8)
        .then(short + phone.str.slice(-2))
        .otherwise(phone.str.slice(0, length - 8) + "****" + phone.str.slice(-4))
    )


def _mask_email(email: pl.Expr) -> pl.Expr:
    """`reporting.rows.mask_email`."""
    parts = email.str.splitn("@", 2)
    domain = parts.struct.field("field_1")
    return (
        parts.struct.field("field_0").str.slice(0, 1)
        + "***"
        + pl.when(domain.is_not_null()).then("@" + domain).otherwise(pl.lit(""))
    )


def _micros(start: str, end: str) -> pl.Expr:
    return (pl.col(end) - pl.col(start)).dt.total_microseconds()


def _rounded(micros: pl.Expr, unit: int, per: int) -> pl.Expr:
    """`reporting.rows.rounded` as the text `str` makes of it ("47.48", "30.0", "-0.5").
    Text, because polars divides a little differently: 4748 / 100 is 47.480000000000004."""
    units = (micros.abs() * 2 + unit) // (2 * unit)
    digits = len(str(per)) - 1
    fraction = (units % per).cast(pl.String).str.zfill(digits).str.strip_chars_end("0")
    text = (
        (units // per).cast(pl.String)
        + "."
        + pl.when(fraction == "").then(pl.lit("0")).otherwise(fraction)
    )
    return pl.when((micros < 0) & (units > 0)).then("-" + text).otherwise(text)


def _outcome(due: pl.Expr, done: pl.Expr, now: datetime) -> pl.Expr:
    """`scheduler.deadlines.outcome`, as its value."""
    met, missed, pending = (pl.lit(o.value) for o in Outcome)
    return (
        pl.when(due.is_null())
        .then(pl.lit(None, pl.String))
        .when(done.is_not_null())
        .then(pl.when(done <= due).then(met).otherwise(missed))
        .when(pl.lit(now) > due)
        .then(missed)
        .otherwise(pending)
    )


def _working_micros(cases: pl.DataFrame, calendar: Calendar) -> pl.Expr:
    """`calendar.working_between(received_at, resolved_at)` in microseconds, None for an
    unresolved case."""
    received, resolved = pl.col("received_at"), pl.col("resolved_at")
    if isinstance(calendar, AlwaysOpen):
        return (resolved - received).dt.total_microseconds().clip(0)
    if not isinstance(calendar, WorkdayCalendar):
        raise TypeError(f"no columnar working time for {type(calendar).__name__}")
    moments = [
        moment
        for column in (cases["received_at"], cases["resolved_at"])
        for moment in (column.min(), column.max())
        if isinstance(moment, datetime)  # not None: a column of nothing but NULL
    ]
    if not moments:
        return pl.lit(None, pl.Int64)
    zone = calendar.zone
    # Every day of the batch, from its first: whether it is a working day, and the working
    # days before it. A moment's wall-clock time, in microseconds since 1970-01-01 00:00
    # local, gives its day (the index) and its time of day.
    first_day = min(moments).astimezone(zone).date()
    workdays, before = _days(calendar, first_day, max(moments).astimezone(zone).date())
    days_to_first = (first_day - _EPOCH_DAY).days

    def day_and_worked_before(moment: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        """The day of `moment` and the working microseconds on that day before it."""
        micros = moment.dt.convert_time_zone(zone.key).dt.replace_time_zone(None).dt.epoch("us")
        days = micros // _DAY
        of_day = micros - days * _DAY
        worked = pl.sum_horizontal(
            of_day.clip(opens, closes) - opens for opens, closes in calendar.span_micros
        )
        day = days - days_to_first
        return day, pl.when(pl.lit(workdays).gather(day)).then(worked).otherwise(0)

    first_day_index, worked_first = day_and_worked_before(received)
    last_day_index, worked_last = day_and_worked_before(resolved)
    in_between = pl.lit(before).gather(last_day_index) - pl.lit(before).gather(first_day_index)
    micros = worked_last - worked_first + calendar.day_micros * in_between
    return (
        pl.when(resolved.is_null()).then(None).when(resolved <= received).then(0).otherwise(micros)
    )


def _days(calendar: WorkdayCalendar, first: date, last: date) -> tuple[pl.Series, pl.Series]:
    """For each day in [first, last]: whether it is a working day, and how many working
    days come before it (from `first`)."""
    workdays: list[bool] = []
    before: list[int] = []
    counted, day = 0, first
    while day <= last:
        before.append(counted)
        workdays.append(working := calendar.is_working_day(day))
        counted += working
        day += timedelta(days=1)
    return pl.Series(workdays, dtype=pl.Boolean), pl.Series(before, dtype=pl.Int64)
