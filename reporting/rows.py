"""The ledger (台账): one row per case received in a period, as the regulator asks for it.

Two steps, both pure:

- `ledger_rows` turns stored cases (`LedgerCase`) into `LedgerRow`s: the computed
  figures (minutes to the first response, working time to the resolution, each time
  limit met or missed). The quality report computes its metrics from these same rows,
  so the report and the ledger of a period can never disagree.
- `LedgerSheet` turns a row into the cells of the file in the reader's language and
  time zone, with the complainant's name and contact masked unless asked otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import CHANNELS, ERASED, CaseStatus, Category
from bot.i18n import Translator
from bot.labels import category_label, channel_label, status_label, verification_labels
from scheduler.calendar import Calendar
from scheduler.deadlines import Outcome, outcome

Cell = str | int | float | datetime | None


@dataclass(frozen=True, slots=True)
class LedgerCase:
    """One case as stored, with its handlers (in the order they took it) and its latest
    satisfaction survey."""

    case_no: str
    received_at: datetime
    channel: str
    name: str
    phone: str | None
    email: str | None
    category: str
    subject: str  # the party complained about
    description: str
    expectation: str
    handlers: tuple[str, ...]
    receipt_due_at: datetime | None
    receipt_sent_at: datetime | None
    response_due_at: datetime | None
    first_response_at: datetime | None
    resolution_due_at: datetime | None
    resolved_at: datetime | None
    verification: dict[str, Any] | None
    resolution: str | None
    reopened_count: int
    survey_asked_at: datetime | None
    survey_answered_at: datetime | None
    survey_score: int | None
    survey_outcome: str | None  # satisfied | unsatisfied | no_answer
    status: str


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """A case with its figures, rounded as the ledger prints them (minutes to one
    decimal, hours to two) so that a figure recomputed from the file is the same."""

    case: LedgerCase
    minutes_to_receipt: float | None
    minutes_to_first_response: float | None
    working_time_to_resolution: timedelta | None
    receipt: Outcome | None
    first_response: Outcome | None
    resolution: Outcome | None

    @property
    def working_hours_to_resolution(self) -> float | None:
        span = self.working_time_to_resolution
        return rounded(span // MICROSECOND, HUNDREDTH_HOUR, 100) if span is not None else None


def ledger_row(case: LedgerCase, calendar: Calendar, now: datetime) -> LedgerRow:
    """The figures of one case; a limit not yet due at `now` is pending."""
    received, resolved = case.received_at, case.resolved_at
    return LedgerRow(
        case=case,
        minutes_to_receipt=_minutes(received, case.receipt_sent_at),
        minutes_to_first_response=_minutes(received, case.first_response_at),
        working_time_to_resolution=(
            calendar.working_between(received, resolved) if resolved else None
        ),
        receipt=outcome(case.receipt_due_at, case.receipt_sent_at, now),
        first_response=outcome(case.response_due_at, case.first_response_at, now),
        resolution=outcome(case.resolution_due_at, resolved, now),
    )


def ledger_rows(
    cases: Iterable[LedgerCase], calendar: Calendar, now: datetime
) -> Iterator[LedgerRow]:
    """The rows of the ledger, one per case, in the order given."""
    for case in cases:
        yield ledger_row(case, calendar, now)


def mask_name(name: str) -> str:
    """`Alice Wang` → `A*********`, `张三` → `张*`: enough to tell rows apart."""
    if name == ERASED:
        return name
    return name[:1] + "*" * (len(name) - 1)


def mask_phone(phone: str) -> str:
    """`+8613812345678` → `+86138****5678`, as Chinese receipts print numbers."""
    if len(phone) <= 8:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone[:-8] + "****" + phone[-4:]


def mask_email(email: str) -> str:
    """`alice@example.com` → `a***@example.com`."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}"


class LedgerSheet:
    """Headers and cells of the ledger in one language and time zone."""

    def __init__(self, locale: str, zone: ZoneInfo, masked: bool = True) -> None:
        self.tr = Translator(locale)
        self.zone = zone
        self.masked = masked
        _ = self.tr.gettext
        # Labels are looked up once here, not once per row.
        self.verification_labels = verification_labels(_)
        self.category_labels = {c.value: category_label(c, _) for c in Category}
        self.status_labels = {s.value: status_label(s, _) for s in CaseStatus}
        self.channel_labels = {c: channel_label(c, _) for c in CHANNELS}
        self.no_answer = _("no answer")
        self.outcome_labels = {
            Outcome.MET: _("met"),
            Outcome.MISSED: _("missed"),
            Outcome.PENDING: _("pending"),
        }
        self._headers = self._layout()

    def headers(self) -> list[str]:
        return list(self._headers)

    def figure_headers(self) -> list[str]:
        """The headers of the columns of computed figures (minutes, hours)."""
        _ = self.tr.gettext
        return [
            _("Minutes to receipt"),
            _("Minutes to first response"),
            _("Working hours to resolution"),
        ]

    def cells(self, row: LedgerRow) -> list[Cell]:
        """The row's cells, in the order of `headers`."""
        # One expression per column rather than a function per column: a big export
        # turns millions of cells, and a call per cell was most of the time.
        case = row.case
        local = self._local_time  # a local name: looked up once per row, used six times
        outcomes = self.outcome_labels
        verification = case.verification or {}
        labels = self.verification_labels
        masked = self.masked
        name, phone, email = case.name, case.phone, case.email
        no_answer = case.survey_outcome == "no_answer"
        return [
            case.case_no,
            local(case.received_at),
            self.channel_labels.get(case.channel, case.channel),
            mask_name(name) if masked else name,
            (mask_phone(phone) if masked else phone) if phone else None,
            (mask_email(email) if masked else email) if email else None,
            self.category_labels.get(case.category, case.category),
            case.subject,
            case.description,
            case.expectation,
            ", ".join(case.handlers) or None,
            local(case.receipt_sent_at),
            row.minutes_to_receipt,
            outcomes[row.receipt] if row.receipt else None,
            local(case.first_response_at),
            row.minutes_to_first_response,
            outcomes[row.first_response] if row.first_response else None,
            local(case.resolved_at),
            row.working_hours_to_resolution,
            outcomes[row.resolution] if row.resolution else None,
            *[
                labels.get(value, value) if (value := verification.get(field)) else None
                for field in VERIFIED
            ],
            case.resolution,
            case.reopened_count,
            self.no_answer if no_answer else case.survey_score,
            local(case.survey_asked_at),
            self.no_answer if no_answer else local(case.survey_answered_at),
            self.status_labels.get(case.status, case.status),
        ]

    def about(self, start: date, end: date, cases: int, made_at: datetime) -> list[tuple[str, str]]:
        """What the file holds, for its readers: the period, the time zone, whether the
        complainants' details are masked."""
        _ = self.tr.gettext
        return [
            (_("Period"), f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"),
            (_("Time zone"), self.zone.key),
            (
                _("Complainant name and contact"),
                _("masked") if self.masked else _("full values (exported with --unmasked)"),
            ),
            (_("Cases"), str(cases)),
            (_("Exported at"), f"{made_at.astimezone(self.zone):%Y-%m-%d %H:%M:%S}"),
        ]

    def _layout(self) -> list[str]:
        _ = self.tr.gettext
        zone = self.zone.key
        masked = self.masked
        return [
            _("Case number"),
            _("Received at ({zone})").format(zone=zone),
            _("Channel"),
            _("Complainant (masked)") if masked else _("Complainant (full)"),
            _("Phone (masked)") if masked else _("Phone (full)"),
            _("Email (masked)") if masked else _("Email (full)"),
            _("Category"),
            _("Party complained about"),
            _("Summary"),
            _("Expected outcome"),
            _("Handler(s)"),
            _("Receipt sent at ({zone})").format(zone=zone),
            _("Minutes to receipt"),
            _("Receipt time limit"),
            _("First response at ({zone})").format(zone=zone),
            _("Minutes to first response"),
            _("First response time limit"),
            _("Resolved at ({zone})").format(zone=zone),
            _("Working hours to resolution"),
            _("Resolution time limit"),
            _("Facts"),
            _("Nature"),
            _("Responsibility"),
            _("Severity"),
            _("Resolution summary"),
            _("Times reopened"),
            _("Satisfaction score"),
            _("Satisfaction asked at ({zone})").format(zone=zone),
            _("Satisfaction answered at ({zone})").format(zone=zone),
            _("Status"),
        ]

    def _local_time(self, moment: datetime | None) -> datetime | None:
        """The moment on the wall clock of the ledger's time zone (the zone is in the
        header) to the second, so a spreadsheet shows and sorts it as a plain date and time."""
        if moment is None:
            return None
        local = moment.astimezone(self.zone)
        # Built from its fields: half the time of `replace(tzinfo=None, microsecond=0)`.
        return datetime(local.year, local.month, local.day, local.hour, local.minute, local.second)


VERIFIED = ("facts", "nature", "responsibility", "severity")


# The ledger's figures are counted in these units of microseconds, and printed as
# 1/10 of a minute and 1/100 of an hour.
TENTH_MINUTE = 6_000_000
HUNDREDTH_HOUR = 36_000_000
MICROSECOND = timedelta(microseconds=1)


def rounded(micros: int, unit: int, per: int) -> float:
    """`micros` to the nearest whole `unit` (halves away from zero), `per` units to one:
    tenths of a minute, hundredths of an hour. Counted in integers rather than with
    `round` on a float, so the columnar ledger (`reporting.columns`) gets the very same
    figure (`round(0.15, 1)` is 0.1, as 0.15 is stored a little below it)."""
    units = (abs(micros) * 2 + unit) // (2 * unit)
    return (units if micros >= 0 else -units) / per


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return rounded((end - start) // MICROSECOND, TENTH_MINUTE, 10) if end is not None else None


def six_months_before(day: date) -> date:
    """The same day six months earlier (the last day of that month when it is shorter)."""
    year, month = (day.year, day.month - 6) if day.month > 6 else (day.year - 1, day.month + 6)
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")
