"""The ledger as columns: the cells of `LedgerSheet.cells(ledger_row(case))` for a whole
batch of cases at once, with polars, for a CSV file of a million rows.

A row at a time, Python spends some 40 µs on a case's thirty cells, and a million cases
would take minutes on the two cores the export has; column by column the same work is a
few native loops. Both are made from the columns `reporting.layout` declares, each kind
of cell in both ways (`reporting.rows` for a row, `_Cells` here for a column); this
module must give the same cells, character for character, which
`tests/reporting/test_columns.py` checks case by case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import polars as pl

from bot.domain import ERASED
from bot.referrals import ReferralOutcome
from reporting import layout
from reporting.layout import COLUMNS, FIELDS, NO_ANSWER, NO_PARTNER_ANSWER, LedgerCase, Referred
from reporting.rows import HUNDREDTH_HOUR, TENTH_MINUTE, LedgerSheet
from scheduler.calendar import AlwaysOpen, Calendar, WorkdayCalendar
from scheduler.deadlines import Outcome

UTC_TIME = pl.Datetime("us", "UTC")
_DAY = 86_400_000_000  # microseconds
_EPOCH_DAY = date(1970, 1, 1)
REFERRED = pl.Struct(
    {"partner": pl.String(), "asked_at": UTC_TIME, "due_at": UTC_TIME, "answered_at": UTC_TIME}
)
"""A referral (`reporting.layout.Referred`) as a column's value."""
_TYPES: dict[type, pl.DataType] = {
    str: pl.String(),
    int: pl.Int64(),
    datetime: UTC_TIME,
    tuple: pl.List(pl.String()),
    Referred: pl.List(REFERRED),
}

CASE_SCHEMA: dict[str, pl.DataType] = {field.name: _TYPES[field.holds] for field in FIELDS}
"""A batch of stored cases: `LedgerCase`'s fields as columns."""


def case_frame(cases: Sequence[LedgerCase]) -> pl.DataFrame:
    """`LedgerCase`s as a batch of columns."""
    names = list(CASE_SCHEMA)
    referred = [field.name for field in FIELDS if field.holds is Referred]
    rows = [
        [
            [_referred(r) for r in value] if name in referred else value
            for name, value in ((name, getattr(case, name)) for name in names)
        ]
        for case in cases
    ]
    return pl.DataFrame(rows, schema=CASE_SCHEMA, orient="row")


def _referred(referral: Referred) -> dict[str, object]:
    return {
        "partner": referral.partner,
        "asked_at": referral.asked_at,
        "due_at": referral.due_at,
        "answered_at": referral.answered_at,
    }


def ledger_cells(
    cases: pl.DataFrame, sheet: LedgerSheet, calendar: Calendar, now: datetime
) -> pl.DataFrame:
    """The cells of a batch of cases (`CASE_SCHEMA`), one column per header of `sheet`,
    times as text ("2026-05-01 08:00:00"): what `sheet.cells` gives (with times as that
    text), None where it gives None."""
    cells = _Cells(cases, sheet, calendar, now)
    headers = sheet.headers()
    return cases.select(
        cells.of(column.cell).alias(header) for column, header in zip(COLUMNS, headers, strict=True)
    )


class _Cells:
    """The columnar expression of each kind of cell of `reporting.layout`."""

    def __init__(
        self, cases: pl.DataFrame, sheet: LedgerSheet, calendar: Calendar, now: datetime
    ) -> None:
        self.cases, self.sheet, self.calendar, self.now = cases, sheet, calendar, now
        self.outcomes = {o.value: label for o, label in sheet.outcome_labels.items()}
        self.referral_outcomes = {o.value: label for o, label in sheet.referral_labels.items()}

    def of(self, cell: layout.Cell) -> pl.Expr:
        sheet = self.sheet
        match cell:
            case layout.Text(field) | layout.Count(field):
                return pl.col(field)
            case layout.Time(field):
                zone = sheet.zone.key
                return pl.col(field).dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M:%S")
            case layout.Label(field, table, optional):
                value = pl.col(field)
                labelled = value.replace(_plain(sheet.labels[table]))
                return pl.when(value != "").then(labelled) if optional else labelled
            case layout.Masked(field, how, optional):
                value = pl.col(field)
                shown = _MASKS[how](value) if sheet.masked else value
                given = value.is_not_null() & (value != "")
                return pl.when(given).then(shown) if optional else shown
            case layout.Names(field):
                names = pl.col(field).list.join(", ")
                return pl.when(names != "").then(names)
            case layout.Minutes(_figure, since, until):
                return _rounded(_micros(since, until), TENTH_MINUTE, 10)
            case layout.WorkingHours(_figure, since, until):
                working = _working_micros(self.cases, self.calendar, since, until)
                return _rounded(working, HUNDREDTH_HOUR, 100)
            case layout.Limit(_result, due, done):
                return _outcome(pl.col(due), pl.col(done), self.now).replace_strict(self.outcomes)
            case layout.Answer(shown, result):
                answered = self.of(shown).cast(pl.String)
                no_answer = pl.col(result) == NO_ANSWER
                return pl.when(no_answer).then(pl.lit(sheet.no_answer)).otherwise(answered)
            case layout.Partners(field):
                return _each_referral(field, pl.element().struct.field("partner"), ", ")
            case layout.AskedAnswered(field):
                referral = pl.element().struct
                asked = self._shown(referral.field("asked_at"))
                answered = self._shown(referral.field("answered_at"))
                both = asked + " / " + answered.fill_null(pl.lit(NO_PARTNER_ANSWER))
                return _each_referral(field, both, "; ")
            case layout.PartnerDeadlines(_outcomes, field):
                referral = pl.element().struct
                outcome = _referral_outcome(
                    referral.field("due_at"), referral.field("answered_at"), self.now
                )
                return _each_referral(
                    field,
                    outcome.replace_strict(self.referral_outcomes, return_dtype=pl.String),
                    ", ",
                )
        raise TypeError(f"no columnar cell for {cell!r}")

    def _shown(self, moment: pl.Expr) -> pl.Expr:
        """A time as `LedgerSheet.asked_answered` writes it inside its text."""
        zone = self.sheet.zone.key
        return moment.dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M:%S")


def _each_referral(field: str, shown: pl.Expr, separator: str) -> pl.Expr:
    """`shown` of each referral of the list `field`, joined by `separator`; None for a
    case never referred."""
    referrals = pl.col(field)
    joined = referrals.list.eval(shown).list.join(separator)
    return pl.when(referrals.list.len() > 0).then(joined)


def _referral_outcome(due: pl.Expr, answered: pl.Expr, now: datetime) -> pl.Expr:
    """`bot.referrals.referral_outcome`, as its value."""
    return (
        pl.when(answered.is_not_null())
        .then(
            pl.when(answered <= due)
            .then(pl.lit(ReferralOutcome.ANSWERED.value))
            .otherwise(pl.lit(ReferralOutcome.ANSWERED_LATE.value))
        )
        .when(pl.lit(now) > due)
        .then(pl.lit(ReferralOutcome.MISSED.value))
        .otherwise(pl.lit(ReferralOutcome.PENDING.value))
    )


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


_MASKS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "name": _mask_name,
    "phone": _mask_phone,
    "email": _mask_email,
}


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


def _working_micros(cases: pl.DataFrame, calendar: Calendar, since: str, until: str) -> pl.Expr:
    """`calendar.working_between(since, until)` in microseconds, None where `until` is
    None (a case not resolved)."""
    received, resolved = pl.col(since), pl.col(until)
    if isinstance(calendar, AlwaysOpen):
        return (resolved - received).dt.total_microseconds().clip(0)
    if not isinstance(calendar, WorkdayCalendar):
        raise TypeError(f"no columnar working time for {type(calendar).__name__}")
    moments = [
        moment
        for column in (cases[since], cases[until])
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
