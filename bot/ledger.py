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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendar import Calendar
from bot.deadlines import Outcome, outcome
from bot.domain import CHANNELS, ERASED, CaseStatus, Category
from bot.i18n import Translator
from bot.labels import category_label, channel_label, status_label, verification_labels

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
        return round(span.total_seconds() / 3600, 2) if span is not None else None


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

    def __init__(
        self, locale: str, zone: ZoneInfo, masked: bool = True, text_times: bool = False
    ) -> None:
        self.tr = Translator(locale)
        self.zone = zone
        self.masked = masked
        # Times as the text a CSV file holds ("2026-05-01 08:00:00") rather than as naive
        # datetimes: the same characters, without a datetime made per cell and then
        # turned into text by the csv module.
        self.text_times = text_times
        self._hours: dict[int, str] = {}  # by `_local_text`
        _ = self.tr.gettext
        # Labels are looked up once here, not once per row.
        self._verification = verification_labels(_)
        self._categories = {c.value: category_label(c, _) for c in Category}
        self._statuses = {s.value: status_label(s, _) for s in CaseStatus}
        self._channels = {c: channel_label(c, _) for c in CHANNELS}
        self._no_answer = _("no answer")
        self._outcomes = {
            Outcome.MET: _("met"),
            Outcome.MISSED: _("missed"),
            Outcome.PENDING: _("pending"),
        }
        self._headers = self._layout()

    def with_text_times(self) -> LedgerSheet:
        """This sheet with its times given as text, for a CSV file."""
        return LedgerSheet(self.tr.locale, self.zone, self.masked, text_times=True)

    def headers(self) -> list[str]:
        return list(self._headers)

    def cells(self, row: LedgerRow) -> list[Cell]:
        """The row's cells, in the order of `headers`."""
        # One expression per column rather than a function per column: a big export
        # turns millions of cells, and a call per cell was most of the time.
        case = row.case
        local: Callable[[datetime | None], Cell]
        local = self._local_text if self.text_times else self._local_time
        outcomes = self._outcomes
        verification = case.verification or {}
        labels = self._verification
        masked = self.masked
        name, phone, email = case.name, case.phone, case.email
        no_answer = case.survey_outcome == "no_answer"
        return [
            case.case_no,
            local(case.received_at),
            self._channels.get(case.channel, case.channel),
            mask_name(name) if masked else name,
            (mask_phone(phone) if masked else phone) if phone else None,
            (mask_email(email) if masked else email) if email else None,
            self._categories.get(case.category, case.category),
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
                for field in _VERIFIED
            ],
            case.resolution,
            case.reopened_count,
            self._no_answer if no_answer else case.survey_score,
            local(case.survey_asked_at),
            self._no_answer if no_answer else local(case.survey_answered_at),
            self._statuses.get(case.status, case.status),
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

    def _local_text(self, moment: datetime | None) -> str | None:
        """What `_local_time` gives, as `str` writes it: "2026-05-01 08:00:00"."""
        if moment is None:
            return None
        if moment.tzinfo is not UTC:  # as stored, times are UTC; others are converted
            return str(moment.astimezone(self.zone))[:19]
        # Converting and formatting a datetime was a fifth of a CSV export (six per row).
        # Instead: the local date and hour of the moment's UTC hour, looked up once per
        # hour, and its minutes and seconds from a table.
        since = moment - _EPOCH
        hour, within = divmod(since.days * 86_400 + since.seconds, 3600)
        start = self._hours.get(hour)
        if start is None:
            if len(self._hours) > 100_000:  # some eleven years of hours
                self._hours.clear()
            start = self._hours[hour] = self._local_hour(hour)
        if start:
            return start + _MINUTES_SECONDS[within]
        # The first 19 characters of the aware local time ("…08:00:00.123456+08:00") are
        # the naive one to the second.
        return str(moment.astimezone(self.zone))[:19]

    def _local_hour(self, hour: int) -> str:
        """The local date and hour ("2026-05-01 08") of the UTC hour `hour` (counted from
        1970), when its minutes and seconds are those of UTC: a whole-hour offset that
        does not change during the hour. Otherwise "" (`_local_text` converts each time)."""
        start = _EPOCH + timedelta(hours=hour)
        offset = start.astimezone(self.zone).utcoffset()
        last = start + timedelta(seconds=3599)
        if offset is None or offset % _HOUR or last.astimezone(self.zone).utcoffset() != offset:
            return ""
        return str(start + offset)[:13]


_VERIFIED = ("facts", "nature", "responsibility", "severity")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
# ":MM:SS" of each second of an hour.
_MINUTES_SECONDS = [f":{minute:02}:{second:02}" for minute in range(60) for second in range(60)]


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() / 60, 1) if end is not None else None


def six_months_before(day: date) -> date:
    """The same day six months earlier (the last day of that month when it is shorter)."""
    year, month = (day.year, day.month - 6) if day.month > 6 else (day.year - 1, day.month + 6)
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")
