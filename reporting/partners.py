"""The quality report's partner figures: how the partners a case was referred to answered.

Computed from the ledger's rows, like the rest of the report, and from nothing the ledger
does not show, so each figure can be recomputed from the exported ledger: the times are
taken to the second, as its cells show them (`reporting.rows.LedgerSheet.asked_answered`),
and each referral's outcome is its "partner deadline met" cell. Per partner (by key):

- referrals: how many, and of how many cases; their outcomes (`bot.referrals`:
  answered, answered_late, missed, pending) and the share answered by the deadline,
  answered ÷ (answered + answered_late + missed): pending ones are counted, not rated;
- response time: hours from asked to answered (the calendar's hours, every answer, in
  time or late), median and 90th percentile (nearest rank), to a hundredth;
- waiting share: of the resolved cases referred to the partner, the time spent waiting
  for it ÷ the time to resolution (received → resolved, calendar time), as
  Σ waiting ÷ Σ resolution time over those cases. A referral waits from asked to
  answered (to resolved when not answered), clipped to [received, resolved]; a case's
  waits for one partner are counted once where they overlap (their union).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.referrals import ReferralOutcome
from reporting.layout import LedgerCase
from reporting.rows import HUNDREDTH_HOUR, LedgerRow, rounded
from reporting.stats import Doubles, ratio, spread

OUTCOMES = tuple(o.value for o in ReferralOutcome)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MICROS = 1_000_000


def second(moment: datetime) -> int:
    """`moment` in whole seconds since 1970 (the fraction dropped, as the ledger shows it)."""
    return (moment - _EPOCH) // _SECOND


def hours(seconds: int) -> float:
    """Seconds as hours to a hundredth (`reporting.rows.rounded`)."""
    return rounded(seconds * _MICROS, HUNDREDTH_HOUR, 100)


def union(spans: list[tuple[int, int]]) -> int:
    """How long the spans (start, end) cover together, each moment once."""
    covered, reached = 0, None
    for start, end in sorted(spans):
        if reached is None or start > reached:
            covered += end - start
            reached = end
        elif end > reached:
            covered += end - reached
            reached = end
    return covered


@dataclass(slots=True)
class _Partner:
    referrals: int = 0
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    response_hours: Doubles = field(default_factory=Doubles)
    resolved_cases: int = 0
    waiting: int = 0  # seconds
    resolution: int = 0  # seconds


def times_out_of_order(case: LedgerCase) -> bool:
    """Whether a referral of `case` was asked before the case was received or answered
    before it was asked (a row check of the report)."""
    return any(
        r.asked_at < case.received_at or (r.answered_at is not None and r.answered_at < r.asked_at)
        for r in case.referrals
    )


class PartnerTally:
    """The partner figures, gathered one ledger row at a time (only the rows of cases
    referred to a partner)."""

    def __init__(self) -> None:
        self.partners: dict[str, _Partner] = {}
        self.referrals = 0  # all partners together, counted apart from them (the check)

    def add(self, row: LedgerRow) -> None:
        # Written out (`second` and `hours` inlined): this runs for every referred case.
        case, partners = row.case, self.partners
        self.referrals += len(case.referrals)
        received = (case.received_at - _EPOCH) // _SECOND
        resolved = (case.resolved_at - _EPOCH) // _SECOND if case.resolved_at else None
        waits: dict[str, list[tuple[int, int]]] = {}
        for referral, outcome in zip(case.referrals, row.referral_outcomes, strict=True):
            partner = referral.partner
            found = partners.get(partner)
            if found is None:
                found = partners[partner] = _Partner()
            found.referrals += 1
            found.outcomes[outcome] += 1  # a `StrEnum`: counted under its value
            asked = (referral.asked_at - _EPOCH) // _SECOND
            answered = None
            if referral.answered_at is not None:
                answered = (referral.answered_at - _EPOCH) // _SECOND
                found.response_hours.append(
                    rounded((answered - asked) * _MICROS, HUNDREDTH_HOUR, 100)
                )
            spans = waits.get(partner)
            if spans is None:
                spans = waits[partner] = []
            if resolved is not None:
                start = asked if asked > received else received
                end = answered if answered is not None and answered < resolved else resolved
                if end > start:
                    spans.append((start, end))
        for partner, spans in waits.items():
            found = partners[partner]
            found.cases += 1
            if resolved is not None:
                found.resolved_cases += 1
                found.waiting += (spans[0][1] - spans[0][0]) if len(spans) == 1 else union(spans)
                found.resolution += max(resolved - received, 0)

    def merge(self, later: PartnerTally) -> None:
        """Adds the partners' figures of another tally (`QualityTally.merge`)."""
        self.referrals += later.referrals
        for key, theirs in later.partners.items():
            mine = self.partners.get(key)
            if mine is None:
                self.partners[key] = theirs
                continue
            mine.referrals += theirs.referrals
            mine.cases += theirs.cases
            mine.outcomes.update(theirs.outcomes)
            mine.response_hours.extend(theirs.response_hours)
            mine.resolved_cases += theirs.resolved_cases
            mine.waiting += theirs.waiting
            mine.resolution += theirs.resolution

    def failures(self) -> int:
        """The partner figures against themselves: the partners' referrals add up to all
        referrals; per partner, the outcomes add up to its referrals, every answer has a
        response time, its cases are no more than its referrals and its resolved cases no
        more than its cases, and the waiting is no longer than the resolution time."""
        partners = self.partners.values()
        failures = int(sum(p.referrals for p in partners) != self.referrals)
        for p in partners:
            answered = p.outcomes["answered"] + p.outcomes["answered_late"]
            failures += int(sum(p.outcomes[o] for o in OUTCOMES) != p.referrals)
            failures += int(len(p.response_hours) != answered)
            failures += int(not p.resolved_cases <= p.cases <= p.referrals)
            failures += int(p.waiting > p.resolution)
        return failures

    def figures(self) -> dict[str, Any]:
        """`metrics.json`'s `partners`: a mapping of each partner's key (those referred to
        in the period, by key) to its figures."""

        def of(p: _Partner) -> dict[str, Any]:
            outcomes = {o: p.outcomes[o] for o in OUTCOMES}
            rated = outcomes["answered"] + outcomes["answered_late"] + outcomes["missed"]
            times = spread(p.response_hours)
            return {
                "referrals": p.referrals,
                "cases": p.cases,
                "outcomes": outcomes,
                "answered_by_deadline_rate": ratio(outcomes["answered"], rated),
                "response_hours": {"count": times.count, "median": times.median, "p90": times.p90},
                "waiting": {
                    "resolved_cases": p.resolved_cases,
                    "waiting_hours": hours(p.waiting),
                    "resolution_hours": hours(p.resolution),
                    "share": ratio(p.waiting, p.resolution),
                },
            }

        return {key: of(self.partners[key]) for key in sorted(self.partners)}
