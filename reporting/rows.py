"""The ledger (台账): one row per case received in a period, as the regulator asks for it.

Two steps, both pure:

- `ledger_rows` turns stored cases (`LedgerCase`) into `LedgerRow`s: the computed
  figures (minutes to the first response, working time to the resolution, each time
  limit met or missed). The quality report computes its metrics from these same rows,
  so the report and the ledger of a period can never disagree.
- `LedgerSheet` turns a row into the cells of the file in the reader's language and
  time zone, with the complainant's name and contact masked unless asked otherwise:
  the columns declared in `reporting.layout`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from bot.domain import CaseStatus, Category
from bot.i18n import Translator
from bot.labels import category_label, status_label, verification_labels
from bot.referrals import ReferralOutcome, referral_outcome
from channels.registry import CHANNEL_NAMES, channel_label
from reporting import layout
from reporting.layout import COLUMNS, NO_ANSWER, NO_PARTNER_ANSWER, UNGUARDED, LedgerCase, Referred
from reporting.masks import MASKS
from scheduler.calendar import Calendar
from scheduler.deadlines import Outcome, outcome

__all__ = ["Cell", "LedgerCase", "LedgerRow", "LedgerSheet", "ledger_row", "ledger_rows"]

Cell = str | int | float | datetime | None


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
    # Each referral's outcome, in the order of `case.referrals`.
    referral_outcomes: tuple[ReferralOutcome, ...] = ()

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
        referral_outcomes=(
            tuple(referral_outcome(r.due_at, r.answered_at, now) for r in case.referrals)
            if case.referrals
            else ()
        ),
    )


def ledger_rows(
    cases: Iterable[LedgerCase], calendar: Calendar, now: datetime
) -> Iterator[LedgerRow]:
    """The rows of the ledger, one per case, in the order given."""
    for case in cases:
        yield ledger_row(case, calendar, now)


class LedgerSheet:
    """Headers and cells of the ledger in one language and time zone."""

    def __init__(self, locale: str, zone: ZoneInfo, masked: bool = True) -> None:
        self.tr = Translator(locale)
        self.zone = zone
        self.masked = masked
        _ = self.tr.gettext
        # Labels are looked up once here, not once per row.
        self.labels: dict[str, dict[str, str]] = {
            "channel": {c: channel_label(c, _) for c in CHANNEL_NAMES},
            "category": {c.value: category_label(c, _) for c in Category},
            "status": {s.value: status_label(s, _) for s in CaseStatus},
            "verification": verification_labels(_),
        }
        self.no_answer = _("no answer")
        self.outcome_labels = {
            Outcome.MET: _("met"),
            Outcome.MISSED: _("missed"),
            Outcome.PENDING: _("pending"),
        }
        self.referral_labels = referral_labels(_)
        self._headers = self._layout()
        self._cells = _row_cells(self)

    def __reduce__(self) -> tuple[type[LedgerSheet], tuple[str, ZoneInfo, bool]]:
        # Made anew in the export's second process: its cells are a function made here.
        return LedgerSheet, (self.tr.locale, self.zone, self.masked)

    def headers(self) -> list[str]:
        return list(self._headers)

    def unguarded_headers(self) -> list[str]:
        """The headers of the columns whose cells never start like a formula: figures,
        counts and times (a CSV file guards the others' text, "-0.5" stays a figure)."""
        return [
            header
            for header, column in zip(self._headers, COLUMNS, strict=True)
            if isinstance(column.cell, UNGUARDED)
        ]

    def cells(self, row: LedgerRow) -> list[Cell]:
        """The row's cells, in the order of `headers`."""
        return self._cells(row)

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
        return [
            _(column.unmasked if column.unmasked and not self.masked else column.header).replace(
                "{zone}", zone
            )
            for column in COLUMNS
        ]

    def partners(self, referrals: tuple[Referred, ...]) -> str:
        """`layout.Partners`' cell of a case referred at least once."""
        return ", ".join(r.partner for r in referrals)

    def asked_answered(self, referrals: tuple[Referred, ...]) -> str:
        """`layout.AskedAnswered`'s cell of a case referred at least once."""
        # `str` of a local time (whole seconds, no zone) is "2026-05-01 08:00:00", as
        # `strftime` would write it in a third of the time.
        local = self._local_time
        return "; ".join(
            f"{local(r.asked_at)} / "
            + (str(local(r.answered_at)) if r.answered_at is not None else NO_PARTNER_ANSWER)
            for r in referrals
        )

    def partner_deadlines(self, outcomes: tuple[ReferralOutcome, ...]) -> str:
        """`layout.PartnerDeadlines`' cell of a case referred at least once."""
        labels = self.referral_labels
        return ", ".join(labels[outcome] for outcome in outcomes)

    def _local_time(self, moment: datetime | None) -> datetime | None:
        """The moment on the wall clock of the ledger's time zone (the zone is in the
        header) to the second, so a spreadsheet shows and sorts it as a plain date and time."""
        if moment is None:
            return None
        local = moment.astimezone(self.zone)
        # Built from its fields: half the time of `replace(tzinfo=None, microsecond=0)`.
        return datetime(local.year, local.month, local.day, local.hour, local.minute, local.second)


def referral_labels(_: Callable[[str], str]) -> dict[ReferralOutcome, str]:
    """A referral's outcome in the reader's words, as the ledger's "partner deadline met"
    column shows it."""
    return {
        ReferralOutcome.ANSWERED: _("met"),
        ReferralOutcome.ANSWERED_LATE: _("answered late"),
        ReferralOutcome.MISSED: _("missed (no answer)"),
        ReferralOutcome.PENDING: _("pending"),
    }


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


def _row_cells(sheet: LedgerSheet) -> Callable[[LedgerRow], list[Cell]]:
    """`sheet`'s cells of a row, as a function made from `reporting.layout.COLUMNS`: one
    expression per column in one list, as one would write it by hand (as `dataclasses`
    writes `__init__`). A big export turns millions of cells, and a call per cell was most
    of its time."""
    names: dict[str, Any] = {
        "local": sheet._local_time,
        "outcomes": sheet.outcome_labels,
        "no_answer": sheet.no_answer,
        "partners": sheet.partners,
        "asked_answered": sheet.asked_answered,
        "partner_deadlines": sheet.partner_deadlines,
        **{f"labels_{table}": labels for table, labels in sheet.labels.items()},
        **{f"mask_{how}": mask for how, mask in MASKS.items()},
    }
    cells = "".join(f"        {_row_cell(c.cell, sheet.masked)},\n" for c in COLUMNS)
    source = f"def cells(row):\n    case = row.case\n    return [\n{cells}    ]\n"
    exec(compile(source, "<reporting.layout.COLUMNS>", "exec"), names)
    return cast(Callable[[LedgerRow], list[Cell]], names["cells"])


def _row_cell(cell: layout.Cell, masked: bool) -> str:
    """The expression of one cell, of `row` (a `LedgerRow`) and `case` (its case)."""
    match cell:
        case layout.Text(field) | layout.Count(field):
            return f"case.{field}"
        case layout.Time(field):
            return f"local(case.{field})"
        case layout.Label(field, table, optional):
            if optional:
                return f"(labels_{table}.get(v, v) if (v := case.{field}) else None)"
            return f"labels_{table}.get(case.{field}, case.{field})"
        case layout.Masked(field, how, optional):
            shown = f"mask_{how}(v)" if masked else "v"
            if optional:
                return f"({shown} if (v := case.{field}) else None)"
            return f"mask_{how}(case.{field})" if masked else f"case.{field}"
        case layout.Names(field):
            return f"(', '.join(case.{field}) or None)"
        case layout.Minutes(figure) | layout.WorkingHours(figure):
            return f"row.{figure}"
        case layout.Limit(result):
            return f"(outcomes[v] if (v := row.{result}) else None)"
        case layout.Answer(shown, result):
            answered = _row_cell(shown, masked)
            return f"(no_answer if case.{result} == {NO_ANSWER!r} else {answered})"
        # Nothing called for a case never referred, as most are.
        case layout.Partners(field):
            return f"(partners(v) if (v := case.{field}) else None)"
        case layout.AskedAnswered(field):
            return f"(asked_answered(v) if (v := case.{field}) else None)"
        case layout.PartnerDeadlines(result):
            return f"(partner_deadlines(v) if (v := row.{result}) else None)"
    raise TypeError(f"no row cell for {cell!r}")


def six_months_before(day: date) -> date:
    """The same day six months earlier (the last day of that month when it is shorter)."""
    year, month = (day.year, day.month - 6) if day.month > 6 else (day.year - 1, day.month + 6)
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")
