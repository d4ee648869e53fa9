"""The service-quality report's figures, computed from the ledger's rows of a period.

The report and the ledger of the same period are made from the same `LedgerRow`s, with
the figures rounded as the ledger prints them, so every metric can be recomputed from
the exported ledger and comes out the same. The definitions, as the report states them:

- times: minutes from receipt of the case to the receipt sent, minutes to the first
  response, working hours to the resolution; the median and the 90th percentile
  (nearest rank: the smallest value that at least 90 % of the cases do not exceed),
  over the cases that have the figure;
- time-limit compliance: met ÷ (met + missed); pending cases are counted, not rated;
- resolution rate: cases resolved now ÷ cases received (a reopened case is unresolved);
- satisfaction rate: scores ≥ the threshold ÷ scores given; callback coverage: cases
  asked ÷ cases resolved at least once; reopen rate: cases reopened at least once ÷
  cases resolved at least once;
- complaint rate: cases received ÷ customers × 10,000, overall and per category, when
  the number of customers is given (`Customers`); stated as missing otherwise, never
  guessed;
- fault handling: the cases whose verification found a system fault, per week of
  receipt: their working hours to resolution (median, 90th percentile) and their
  resolution time limit (met ÷ (met + missed));
- partners (`reporting.partners`) and handlers and teams (`reporting.handlers`): their
  own figures, each in its module.

`QualityTally` takes the rows one at a time and keeps only counters and the lists of
times (for the percentiles), so a period of a million cases fits in memory.
The report also checks itself: each `Check` says whether something that must hold
does, and which cases break it, so a failure is shown rather than averaged away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import CaseStatus, Category
from bot.lifecycle import Nature
from channels.registry import CHANNEL_NAMES
from reporting.handlers import HandlerTally
from reporting.partners import PartnerTally, times_out_of_order
from reporting.rows import LedgerCase, LedgerRow
from reporting.stats import (
    LIMITS,
    Compliance,
    Doubles,
    Spread,
    compliance_json,
    ratio,
    spread,
    spread_json,
)
from scheduler.deadlines import Outcome

SCORES = (1, 2, 3, 4, 5)
OUTCOMES = ("met", "missed", "pending", "none")
# The complaint rate is stated per this many customers.
PER_CUSTOMERS = 10_000
# The verification nature whose cases the fault-handling figures follow.
FAULT = Nature.SYSTEM_FAULT.value
# Cases named per failed check; the count says how many there are in all.
EXAMPLES = 20
_RESOLVED_STATES = {CaseStatus.RESOLVED.value, CaseStatus.ARCHIVED.value}


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # a stable identifier; the report words it in the reader's language
    failures: int
    cases: tuple[str, ...]  # up to EXAMPLES of the cases that break it

    @property
    def passed(self) -> bool:
        return self.failures == 0


@dataclass(frozen=True, slots=True)
class Customers:
    """How many customers the company has, the complaint rate's divisor, and where the
    number came from (the command's option or the setting), which the report states."""

    count: int
    source: str


NO_CUSTOMERS = (
    "No number of customers was given: pass --customers N to `complaintbot report` "
    "or set CUSTOMER_COUNT."
)
"""Why `metrics.json` has no complaint rate (the page says it in the reader's language)."""


def per_customers(complaints: int, customers: Customers | None) -> float | None:
    """Complaints per `PER_CUSTOMERS` customers, to four decimals; None without customers."""
    if customers is None:
        return None
    return round(complaints * PER_CUSTOMERS / customers.count, 4)


@dataclass(frozen=True, slots=True)
class OpenCase:
    """A case not resolved at the time of the report."""

    case_no: str
    received_at: datetime
    category: str
    status: str
    handlers: tuple[str, ...]
    resolution_due_at: datetime | None
    overdue: bool


@dataclass(slots=True)
class _Failures:
    count: int = 0
    cases: list[str] = field(default_factory=list)

    def add(self, case_no: str) -> None:
        self.count += 1
        if len(self.cases) < EXAMPLES:
            self.cases.append(case_no)

    def merge(self, later: _Failures) -> None:
        self.count += later.count
        self.cases.extend(later.cases[: EXAMPLES - len(self.cases)])


# What must hold for every case, in the order the report lists them.
ROW_CHECKS = (
    "receipt_not_before_received",
    "first_response_not_before_received",
    "first_response_not_before_receipt",
    "resolved_not_before_received",
    "survey_not_before_received",
    "answer_not_before_survey",
    "status_agrees_with_resolution",
    "nature_agrees_with_resolution",
    "score_between_1_and_5",
    "partner_times_in_order",
)


def broken_checks(case: LedgerCase) -> list[str]:
    """The row checks `case` breaks; nearly always none. (One function of plain
    comparisons rather than a table of small ones: it runs once per case.)"""
    received, receipt, first = case.received_at, case.receipt_sent_at, case.first_response_at
    resolved, asked, answered = case.resolved_at, case.survey_asked_at, case.survey_answered_at
    broken = []
    if receipt is not None and receipt < received:
        broken.append("receipt_not_before_received")
    if first is not None and first < received:
        broken.append("first_response_not_before_received")
    if first is not None and receipt is not None and first < receipt:
        broken.append("first_response_not_before_receipt")
    if resolved is not None and resolved < received:
        broken.append("resolved_not_before_received")
    if asked is not None and asked < received:
        broken.append("survey_not_before_received")
    if answered is not None and asked is not None and answered < asked:
        broken.append("answer_not_before_survey")
    if (case.status in _RESOLVED_STATES) != (resolved is not None):
        broken.append("status_agrees_with_resolution")
    # The verification is recorded when a case is resolved and kept when it is reopened:
    # a case without one would be missing from (or wrongly in) the fault-handling figures.
    if (resolved is not None or case.reopened_count > 0) != bool(case.nature):
        broken.append("nature_agrees_with_resolution")
    if case.survey_score is not None and case.survey_score not in SCORES:
        broken.append("score_between_1_and_5")
    if case.referrals and times_out_of_order(case):
        broken.append("partner_times_in_order")
    return broken


class QualityTally:
    """The report's figures, gathered one ledger row at a time."""

    def __init__(self, first: date, last: date, zone: ZoneInfo, threshold: int) -> None:
        self.first, self.last, self.zone, self.threshold = first, last, zone, threshold
        self.cases = 0
        self.weeks: Counter[date] = Counter()
        self.channels: Counter[str] = Counter()
        self.categories: Counter[str] = Counter()
        # Packed doubles: a million cases' times in 24 MB rather than 100.
        self.times: dict[str, Doubles] = {limit: Doubles() for limit in LIMITS}
        # (category, limit) → outcome ("none" when the case had no such limit) → cases
        self.outcomes: Counter[tuple[str, str, str]] = Counter()
        self.resolved = self.resolved_ever = self.reopened = 0
        self.asked = self.answered = self.no_answer = 0
        self.scores: Counter[int] = Counter()
        self.open_cases: list[OpenCase] = []
        self.failures = {name: _Failures() for name in ROW_CHECKS}
        # System faults: counted on their own, by week, and with their resolution times
        # and outcomes by week, so the checks can add the weeks up to the whole.
        self.faults = self.faults_resolved = 0
        self.fault_weeks: Counter[date] = Counter()
        self.fault_times: dict[date, Doubles] = {}
        self.fault_outcomes: Counter[tuple[date, str]] = Counter()
        # Referrals to partners (`reporting.partners`).
        self.partners = PartnerTally()
        # Per handler and per team (`reporting.handlers`).
        self.handlers = HandlerTally(threshold)

    def add(self, row: LedgerRow) -> None:
        case = row.case
        self.cases += 1
        day = case.received_at.astimezone(self.zone).date()
        week = day - timedelta(days=day.weekday())
        self.weeks[week] += 1
        self.channels[case.channel] += 1
        self.categories[case.category] += 1
        # Written out for the three limits (`LIMITS`): this runs once per case.
        receipt, first, resolution = self.times.values()
        if (minutes := row.minutes_to_receipt) is not None:
            receipt.append(minutes)
        # Each figure computed once: the faults and the handlers take them too.
        if (first_minutes := row.minutes_to_first_response) is not None:
            first.append(first_minutes)
        if (hours := row.working_hours_to_resolution) is not None:
            resolution.append(hours)
        # An `Outcome` is its value (a `StrEnum`): counted under "met", "missed", "pending".
        outcomes, category = self.outcomes, case.category
        outcomes[category, "receipt", row.receipt or "none"] += 1
        outcomes[category, "first_response", row.first_response or "none"] += 1
        outcomes[category, "resolution", row.resolution or "none"] += 1
        if case.resolved_at is not None:
            self.resolved += 1
        else:
            self.open_cases.append(
                OpenCase(
                    case.case_no,
                    case.received_at,
                    case.category,
                    case.status,
                    case.handlers,
                    case.resolution_due_at,
                    overdue=row.resolution is Outcome.MISSED,
                )
            )
        if case.resolved_at is not None or case.reopened_count:
            self.resolved_ever += 1
            self.reopened += case.reopened_count > 0
        if case.survey_asked_at is not None:
            self.asked += 1
        if case.survey_score is not None:
            self.answered += 1
            self.scores[case.survey_score] += 1
        elif case.survey_outcome == "no_answer":
            self.no_answer += 1
        if case.nature == FAULT:
            self._add_fault(week, row, hours)
        if case.referrals:
            self.partners.add(row)
        self.handlers.add(row, first_minutes, hours)
        for name in broken_checks(case):
            self.failures[name].add(case.case_no)

    def merge(self, later: QualityTally) -> None:
        """Adds the figures of `later`, a tally of the cases received after this one's
        (another process's half of the period): as if this one had taken its rows."""
        self.cases += later.cases
        self.weeks.update(later.weeks)
        self.channels.update(later.channels)
        self.categories.update(later.categories)
        self.outcomes.update(later.outcomes)
        self.scores.update(later.scores)
        self.fault_weeks.update(later.fault_weeks)
        self.fault_outcomes.update(later.fault_outcomes)
        for limit, times in later.times.items():
            self.times[limit].extend(times)
        self.resolved += later.resolved
        self.resolved_ever += later.resolved_ever
        self.reopened += later.reopened
        self.asked += later.asked
        self.answered += later.answered
        self.no_answer += later.no_answer
        self.open_cases.extend(later.open_cases)
        for name, failures in later.failures.items():
            self.failures[name].merge(failures)
        self.faults += later.faults
        self.faults_resolved += later.faults_resolved
        for week, hours in later.fault_times.items():
            self.fault_times.setdefault(week, Doubles()).extend(hours)
        self.partners.merge(later.partners)
        self.handlers.merge(later.handlers)

    def _add_fault(self, week: date, row: LedgerRow, hours: float | None) -> None:
        self.faults += 1
        self.fault_weeks[week] += 1
        if hours is not None:
            self.faults_resolved += 1
            self.fault_times.setdefault(week, Doubles()).append(hours)
        self.fault_outcomes[week, row.resolution or "none"] += 1

    # --- the figures -------------------------------------------------------------

    def week_starts(self) -> list[date]:
        """Monday of every week the period touches, so quiet weeks show as zero."""
        monday = self.first - timedelta(days=self.first.weekday())
        weeks = []
        while monday <= self.last:
            weeks.append(monday)
            monday += timedelta(days=7)
        return weeks

    def compliance(self, category: str | None, limit: str) -> Compliance:
        categories = [category] if category else list(self.categories)
        count = {
            outcome: sum(self.outcomes[c, limit, outcome] for c in categories)
            for outcome in OUTCOMES
        }
        return Compliance(count["met"], count["missed"], count["pending"], count["none"])

    def fault_compliance(self, weeks: Sequence[date]) -> Compliance:
        """The resolution time limit of the system faults received in `weeks`."""
        count = {o: sum(self.fault_outcomes[w, o] for w in weeks) for o in OUTCOMES}
        return Compliance(count["met"], count["missed"], count["pending"], count["none"])

    def fault_spread(self, weeks: Sequence[date]) -> Spread:
        """Working hours to resolution of the system faults received in `weeks`."""
        return spread([hours for w in weeks for hours in self.fault_times.get(w, ())])

    def category_keys(self) -> list[str]:
        """Every category, then any unknown one found in the rows."""
        known = [c.value for c in Category]
        return known + sorted(set(self.categories) - set(known))

    def satisfied(self) -> int:
        return sum(n for score, n in self.scores.items() if score >= self.threshold)

    def checks(self, customers: Customers | None = None) -> list[Check]:
        """Every check, those on the whole period first."""
        totals = {
            "weeks_add_up": sum(self.weeks[w] for w in self.week_starts()),
            "channels_add_up": sum(self.channels.values()),
            "categories_add_up": sum(self.categories.values()),
        }
        checks = [Check(name, int(total != self.cases), ()) for name, total in totals.items()]
        broken_limits = sum(self.compliance(None, limit).total != self.cases for limit in LIMITS)
        checks.append(Check("time_limit_outcomes_add_up", broken_limits, ()))
        scored = sum(self.scores.values()) != self.answered
        answers = self.answered + self.no_answer > self.asked
        checks.append(Check("satisfaction_adds_up", int(scored) + int(answers), ()))
        checks.append(Check("complaint_rate_adds_up", self._complaint_rate_failures(customers), ()))
        checks.append(Check("fault_handling_adds_up", self._fault_failures(), ()))
        checks.append(Check("partners_add_up", self.partners.failures(), ()))
        handlers = self.handlers.failures(
            self.cases, self.answered, self.resolved_ever, self.reopened
        )
        checks.append(Check("handlers_add_up", handlers, ()))
        checks += [
            Check(name, found.count, tuple(found.cases)) for name, found in self.failures.items()
        ]
        return checks

    def _complaint_rate_failures(self, customers: Customers | None) -> int:
        """The complaint rate's breakdown against its whole: the complaints by category
        add up to the cases, and so do the rates by category (each rounded to 1/10,000,
        so within half of that per category)."""
        failures = int(sum(self.categories[c] for c in self.category_keys()) != self.cases)
        if customers is not None:
            whole = per_customers(self.cases, customers) or 0.0
            parts = sum(
                per_customers(self.categories[c], customers) or 0.0 for c in self.categories
            )
            failures += int(abs(parts - whole) > 0.00005 * (len(self.categories) + 1))
        return failures

    def _fault_failures(self) -> int:
        """The fault-handling figures by week add up to the whole period's: cases, cases
        with a resolution time, and each fault counted once by its resolution limit."""
        weeks = self.week_starts()
        failures = int(sum(self.fault_weeks[w] for w in weeks) != self.faults)
        failures += int(self.fault_spread(weeks).count != self.faults_resolved)
        failures += int(self.fault_compliance(weeks).total != self.faults)
        return failures

    def complaint_rate(self, customers: Customers | None) -> dict[str, Any]:
        """Cases per `PER_CUSTOMERS` customers, overall and by category, or why not."""
        return {
            "per_customers": PER_CUSTOMERS,
            "customers": customers.count if customers else None,
            "customers_from": customers.source if customers else None,
            "complaints": self.cases,
            "rate": per_customers(self.cases, customers),
            "by_category": {
                c: {
                    "complaints": self.categories[c],
                    "rate": per_customers(self.categories[c], customers),
                }
                for c in self.category_keys()
            },
            "reason": None if customers else NO_CUSTOMERS,
        }

    def fault_handling(self) -> dict[str, Any]:
        """The system faults' resolution times and limit, for the period and by week."""

        def figures(weeks: list[date]) -> dict[str, Any]:
            return {
                "cases": sum(self.fault_weeks[w] for w in weeks),
                "resolution_working_hours": spread_json(self.fault_spread(weeks)),
                "resolution_limit": compliance_json(self.fault_compliance(weeks)),
            }

        weeks = self.week_starts()
        return {
            "nature": FAULT,
            "all": figures(weeks),
            "by_week": {w.isoformat(): {"iso_week": iso_week(w), **figures([w])} for w in weeks},
        }

    def metrics(self, made_at: datetime, customers: Customers | None = None) -> dict[str, Any]:
        """Everything the report shows, as `metrics.json` holds it; the complaint rate
        needs the number of `customers`."""
        satisfied = self.satisfied()
        zone = self.zone

        def local(moment: datetime | None) -> str | None:
            return moment.astimezone(zone).isoformat(timespec="seconds") if moment else None

        checks = self.checks(customers)
        return {
            "period": {
                "from": self.first.isoformat(),
                "to": self.last.isoformat(),
                "timezone": self.zone.key,
            },
            "generated_at": local(made_at),
            "cases": self.cases,
            "volume": {
                "by_week": {w.isoformat(): self.weeks[w] for w in self.week_starts()},
                "by_channel": {
                    c: self.channels[c]
                    for c in (*CHANNEL_NAMES, *sorted(set(self.channels) - set(CHANNEL_NAMES)))
                },
                "by_category": {c: self.categories[c] for c in self.category_keys()},
            },
            "times": {
                "receipt_minutes": spread_json(spread(self.times["receipt"])),
                "first_response_minutes": spread_json(spread(self.times["first_response"])),
                "resolution_working_hours": spread_json(spread(self.times["resolution"])),
            },
            "time_limits": {
                "all": {limit: compliance_json(self.compliance(None, limit)) for limit in LIMITS},
                "by_category": {
                    category: {
                        limit: compliance_json(self.compliance(category, limit)) for limit in LIMITS
                    }
                    for category in self.category_keys()
                },
            },
            "resolution": {"resolved": self.resolved, "rate": ratio(self.resolved, self.cases)},
            "satisfaction": {
                "threshold": self.threshold,
                "asked": self.asked,
                "answered": self.answered,
                "no_answer": self.no_answer,
                "distribution": {str(s): self.scores[s] for s in SCORES},
                "satisfied": satisfied,
                "rate": ratio(satisfied, self.answered),
                "callback_coverage": ratio(self.asked, self.resolved_ever),
            },
            "reopening": {
                "resolved_at_least_once": self.resolved_ever,
                "reopened": self.reopened,
                "rate": ratio(self.reopened, self.resolved_ever),
            },
            "complaint_rate": self.complaint_rate(customers),
            "fault_handling": self.fault_handling(),
            "partners": self.partners.figures(),
            "by_handler": self.handlers.by_handler(),
            "by_team": self.handlers.by_team(),
            "unresolved": [
                {
                    "case_no": c.case_no,
                    "received_at": local(c.received_at),
                    "category": c.category,
                    "status": c.status,
                    "handlers": list(c.handlers),
                    "resolution_due_at": local(c.resolution_due_at),
                    "overdue": c.overdue,
                }
                for c in sorted(self.open_cases, key=lambda c: (not c.overdue, c.received_at))
            ],
            "checks": [
                {"name": c.name, "passed": c.passed, "failures": c.failures, "cases": list(c.cases)}
                for c in checks
            ],
            "checks_failed": sum(not c.passed for c in checks),
        }


def iso_week(monday: date) -> str:
    """The ISO week of a Monday, as `2026-W47`."""
    year, week, _day = monday.isocalendar()
    return f"{year}-W{week:02d}"
